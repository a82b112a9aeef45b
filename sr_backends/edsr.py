"""EDSR (Lim et al. 2017), written to the key layout of the authors' EDSR-PyTorch code.

The module names (`sub_mean`, `head.0`, `body.i.body.{0,2}`, `tail.0.{0,2}`, `tail.1`,
`add_mean`) follow the original code so that its released checkpoints load as they are.
Like the original, the network works internally on a `rgb_range` scale (255 by default) with a
DIV2K mean shift done by fixed 1x1 convolutions; the forward takes and returns [0, 1] images.

The residual scaling multiply is performed even when `res_scale == 1`, as in the original:
the paper-convention GFLOPs of Table 2 (37.39 G at LR 128x128) count it.

`global_skip=True` (off in every registered spec; the quick profile turns it on) adds a
bicubic-upsampled copy of the input to the output and zero-initialises the last conv, so the
untrained network *is* bicubic and training only learns the residual. Same parameters, a
negligible extra cost. Why: trained from scratch on a 2-core CPU, the plain EDSR needs
thousands of iterations just to reach bicubic's PSNR; with the skip, a few hundred beat it.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from sr_backends.base import ArchSpec
from sr_backends.global_skip import bicubic_base, start_at_zero

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def default_conv(in_ch: int, out_ch: int, kernel_size: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv that subtracts (sign=-1) or adds (sign=+1) the dataset mean.

    A conv rather than a buffer so original checkpoints (`sub_mean.weight/bias`) load; its
    parameters are frozen because they are constants, not learned.
    """

    def __init__(self, rgb_range: float, rgb_mean: tuple[float, ...] = DIV2K_MEAN,
                 sign: float = -1.0) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean))
        for p in self.parameters():
            p.requires_grad = False


class Upsampler(nn.Sequential):
    """conv + PixelShuffle(2) repeated log2(scale) times (or one x3 step), as in EDSR."""

    def __init__(self, scale: int, n_feats: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [default_conv(n_feats, 4 * n_feats, 3), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [default_conv(n_feats, 9 * n_feats, 3), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"unsupported scale {scale}; use a power of 2 or 3")
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, n_feats: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            default_conv(n_feats, n_feats, 3), nn.ReLU(inplace=True), default_conv(n_feats, n_feats, 3)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x).mul(self.res_scale)
        res += x
        return res


class EDSR(nn.Module):
    def __init__(self, n_resblocks: int = 16, n_feats: int = 64, scale: int = 4,
                 res_scale: float = 1.0, rgb_range: float = 255.0, n_colors: int = 3,
                 global_skip: bool = False) -> None:
        super().__init__()
        self.scale, self.rgb_range, self.global_skip = scale, float(rgb_range), global_skip
        self.sub_mean = MeanShift(rgb_range, sign=-1.0)
        self.add_mean = MeanShift(rgb_range, sign=1.0)
        self.head = nn.Sequential(default_conv(n_colors, n_feats, 3))
        body: list[nn.Module] = [ResBlock(n_feats, res_scale) for _ in range(n_resblocks)]
        body.append(default_conv(n_feats, n_feats, 3))
        self.body = nn.Sequential(*body)
        self.tail = nn.Sequential(Upsampler(scale, n_feats), default_conv(n_feats, n_colors, 3))
        if global_skip:  # start as exactly bicubic; learn only the residual
            start_at_zero(self.tail[-1])

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = self.sub_mean(lr * self.rgb_range)  # not in place: the caller keeps its tensor
        x = self.head(x)
        res = self.body(x)
        res += x
        if self.global_skip:
            return bicubic_base(lr, self.scale) + self.tail(res) / self.rgb_range
        x = self.add_mean(self.tail(res))
        return x / self.rgb_range


def build_edsr(**hparams: object) -> EDSR:
    return EDSR(**hparams)  # type: ignore[arg-type]


_TINY = {"n_resblocks": 2, "n_feats": 8}

EDSR_PAPER = ArchSpec(
    arch="edsr",
    build=build_edsr,
    model_class=EDSR,
    hparams={"n_resblocks": 20, "n_feats": 64, "scale": 4, "res_scale": 1.0, "rgb_range": 255.0},
    tiny=_TINY,
    reference={"params": 1.81e6, "paper_gflops": 37.39},
)
EDSR_BASELINE = ArchSpec(
    arch="edsr",
    build=build_edsr,
    model_class=EDSR,
    hparams={"n_resblocks": 16, "n_feats": 64, "scale": 4, "res_scale": 1.0, "rgb_range": 255.0},
    tiny=_TINY,
    reference={"params": 1.52e6},  # EDSR paper (x4 baseline)
)
EDSR_LARGE = ArchSpec(
    arch="edsr",
    build=build_edsr,
    model_class=EDSR,
    hparams={"n_resblocks": 32, "n_feats": 256, "scale": 4, "res_scale": 0.1, "rgb_range": 255.0},
    tiny=_TINY,
    reference={"params": 43.1e6},  # EDSR paper (x4)
)
