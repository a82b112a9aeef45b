"""Bicubic x4 interpolation: the no-learning baseline every SR backend must beat.

Uses `torch.nn.functional.interpolate(mode="bicubic", align_corners=False)`, cubic convolution
with a = -0.75 (PyTorch's kernel), output clamped to [0, 1]. This is also exactly how the
harness builds the "LR" variant, so SR:bicubic and LR are the same image by construction.
"""
from __future__ import annotations

import hashlib

import torch

from bench.degrade import upsample_to
from sr_backends.base import BackendSpec, SRBackend


class BicubicBackend(SRBackend):
    name = "bicubic"
    needs_reference = False

    def __init__(self, scale: int = 4, **_: object):
        self.scale = scale

    def upscale(self, lr: torch.Tensor, ref: torch.Tensor | None = None,
                depth: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        h, w = lr.shape[-2:]
        return upsample_to(lr, (h * self.scale, w * self.scale))

    def fingerprint(self) -> str:
        return hashlib.sha256(f"bicubic|torch-a=-0.75|x{self.scale}".encode()).hexdigest()[:16]


SPEC = BackendSpec(arch="bicubic", build=BicubicBackend, kind="fixed")
