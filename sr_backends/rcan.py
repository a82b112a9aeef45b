"""RCAN (Zhang et al. 2018): residual groups of residual channel-attention blocks (RCAB).

Written to the key layout of the authors' code (the same one spandrel detects as "RCAN"), so
the original checkpoints load into this module and our trained weights load via the
`external` backend too. As in the original, the network works on a `rgb_range` (255) scale
with a fixed mean shift; the forward takes and returns [0, 1] images and never modifies its
input in place.

`global_skip=True` (off in the registered spec; the quick profile turns it on, as for EDSR and
ATD-light) adds a bicubic enlargement of the input to the output and zero-initialises the last
conv, so the untrained network is exactly bicubic and learns only the residual; the parameters
and their names are unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from sr_backends.base import ArchSpec
from sr_backends.global_skip import bicubic_base, start_at_zero
from sr_backends.edsr import MeanShift, Upsampler, default_conv


class CALayer(nn.Module):
    """Channel attention: global average pool -> 1x1 squeeze/excite -> sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, padding=0, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, padding=0, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    def __init__(self, n_feats: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            default_conv(n_feats, n_feats, 3), nn.ReLU(inplace=True),
            default_conv(n_feats, n_feats, 3), CALayer(n_feats, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x)
        res += x
        return res


class ResidualGroup(nn.Module):
    def __init__(self, n_feats: int, reduction: int, n_resblocks: int) -> None:
        super().__init__()
        body: list[nn.Module] = [RCAB(n_feats, reduction) for _ in range(n_resblocks)]
        body.append(default_conv(n_feats, n_feats, 3))
        self.body = nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x)
        res += x
        return res


class RCAN(nn.Module):
    def __init__(self, n_resgroups: int = 10, n_resblocks: int = 20, n_feats: int = 64,
                 reduction: int = 16, scale: int = 4, rgb_range: float = 255.0,
                 n_colors: int = 3, global_skip: bool = False) -> None:
        super().__init__()
        self.scale, self.rgb_range, self.global_skip = scale, float(rgb_range), global_skip
        self.sub_mean = MeanShift(rgb_range, sign=-1.0)
        self.add_mean = MeanShift(rgb_range, sign=1.0)
        self.head = nn.Sequential(default_conv(n_colors, n_feats, 3))
        body: list[nn.Module] = [
            ResidualGroup(n_feats, reduction, n_resblocks) for _ in range(n_resgroups)
        ]
        body.append(default_conv(n_feats, n_feats, 3))
        self.body = nn.Sequential(*body)
        self.tail = nn.Sequential(Upsampler(scale, n_feats), default_conv(n_feats, n_colors, 3))
        if global_skip:  # start as exactly bicubic; learn only the residual
            start_at_zero(self.tail[-1])

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(lr * self.rgb_range))
        res = self.body(x)
        res += x
        if self.global_skip:
            return bicubic_base(lr, self.scale) + self.tail(res) / self.rgb_range
        return self.add_mean(self.tail(res)) / self.rgb_range


def build_rcan(**hparams: object) -> RCAN:
    return RCAN(**hparams)  # type: ignore[arg-type]


RCAN_SPEC = ArchSpec(
    arch="rcan",
    model_class=RCAN,
    build=build_rcan,
    hparams={"n_resgroups": 10, "n_resblocks": 20, "n_feats": 64, "reduction": 16,
             "scale": 4, "rgb_range": 255.0},
    tiny={"n_resgroups": 2, "n_resblocks": 2, "n_feats": 16, "reduction": 4},
    reference={"params": 15.59e6, "paper_gflops": 261.44},
)
