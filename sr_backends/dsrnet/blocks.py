"""Small building blocks shared by the DSRNet encoder and decoder (MASA-SR style)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=True)


class ResBlock(nn.Module):
    """conv-ReLU-conv + identity, no normalisation (the MASA-SR residual block)."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(nf, nf)
        self.conv2 = conv3x3(nf, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In-place add on the conv output: conv backward does not need its output, so this is
        # autograd-safe and saves one full-size temporary per block.
        return self.conv2(F.relu(self.conv1(x), inplace=True)).add_(x)


def conv_cat(conv: nn.Conv2d, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """conv(cat([a, b], dim=1)) without building the concatenation.

    The weight is split by input channels and the two partial convolutions summed: same
    MACs, but no interleaving copy of two channels-last maps (at x4 that copy alone cost
    about a third of the convolution it feeds).
    """
    ca = a.shape[1]
    w = conv.weight
    out = F.conv2d(a, w[:, :ca], conv.bias, conv.stride, conv.padding)
    return out.add_(F.conv2d(b, w[:, ca:], None, conv.stride, conv.padding))


def res_stack(nf: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(nf) for _ in range(n)))


def init_weights(module: nn.Module, res_scale: float = 0.1) -> None:
    """MASA-SR's initialisation: He-normal (halved) convs, residual branches scaled by 0.1.

    Scaling the residual branches keeps each block close to identity at the start, which the
    long (up to 12-block) decoder stages need to train stably at lr 2e-4 with batch 1.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, 0.5 * (2.0 / n) ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, ResBlock):
            with torch.no_grad():
                m.conv1.weight.mul_(res_scale)
                m.conv2.weight.mul_(res_scale)
