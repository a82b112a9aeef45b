"""VGG-style discriminator for the relativistic GAN loss, for any input size.

The authors' discriminator (ESRGAN's VGG-style "160") flattens a 5x5 map into a linear layer,
so it only accepts 160x160 crops. Here the last feature map is global-average-pooled before
the classifier, so SR outputs of any size (>= 32 px per side) can be judged as they are.
"""
from __future__ import annotations

import torch
from torch import nn


def _stage(in_ch: int, out_ch: int) -> list[nn.Module]:
    """3x3 conv then 4x4 stride-2 conv, each BN + LeakyReLU(0.2)."""
    return [nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(out_ch),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(out_ch, out_ch, 4, 2, 1, bias=False), nn.BatchNorm2d(out_ch),
            nn.LeakyReLU(0.2, inplace=True)]


class Discriminator(nn.Module):
    def __init__(self, in_ch: int = 3, nf: int = 64) -> None:
        super().__init__()
        widths = [nf, nf * 2, nf * 4, nf * 8, nf * 8]
        layers: list[nn.Module] = [nn.Conv2d(in_ch, nf, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Conv2d(nf, nf, 4, 2, 1, bias=False), nn.BatchNorm2d(nf),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += _stage(a, b)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(widths[-1], 100), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Linear(100, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) image in [0, 1] -> (B, 1) logit (real vs fake, before the sigmoid)."""
        return self.classifier(self.features(x).mean(dim=(2, 3)))
