"""The SR backend interface (inference only): `SRBackend`. See sr_backends/base.py."""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class SRBackend(ABC):
    name: str
    scale: int = 4
    needs_reference: bool = False
    needs_depth: bool = False

    @abstractmethod
    def upscale(self, lr: torch.Tensor, ref: torch.Tensor | None = None,
                depth: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """LR (B,3,h,w) in [0,1] [+ Ref (B,3,4h,4w)] [+ depth] -> SR (B,3,4h,4w) in [0,1]."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Stable hash of architecture, hyper-parameters and weights."""
