"""The depth-extraction U-Net (RGB -> 1-channel depth), the classic Ronneberger layout.

Widths w, 2w, 4w, 8w, 16w (w = 64: 64-128-256-512-1024), two conv-BN-ReLU per stage, max-pool
down, transposed-conv up (`bilinear=False`), 1x1 output conv: 31.04M parameters at w = 64,
the "31.0M" separate depth model of DESIGN section 5. The output is depth divided by the
model's `depth_scale_m` (no activation, like the authors' regression head).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class _Up(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, in_ch // 2, 2, stride=2)
        self.conv = _double_conv(in_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        # Sizes that are not multiples of 16 (e.g. a Ref↓ of 80x28) leave the upsampled map a
        # pixel short of the skip connection: pad it, as the reference U-Net does.
        dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        x = F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        return self.conv(torch.cat([skip, x], dim=1))


class DepthUNet(nn.Module):
    def __init__(self, in_ch: int = 3, width: int = 64) -> None:
        super().__init__()
        w = [width * 2 ** i for i in range(5)]
        self.inc = _double_conv(in_ch, w[0])
        self.downs = nn.ModuleList(_double_conv(w[i], w[i + 1]) for i in range(4))
        self.ups = nn.ModuleList(_Up(w[i + 1], w[i]) for i in reversed(range(4)))
        self.outc = nn.Conv2d(w[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.outc(y)
