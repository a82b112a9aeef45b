"""The SR backend interface (inference only) and the spec of a learned architecture.

`SRBackend.upscale(lr, ref=None, depth=None)` takes BCHW float tensors in [0, 1] and returns
the x`scale` output, also in [0, 1]. Reference-based backends (`needs_reference`) take a Ref of
HR size; backends that consume ground-truth depth (`needs_depth`, e.g. DSRNet with
depth_source="gt") also take `depth` = (depth of the LR, depth of the Ref downsampled to LR
size), each (B, 1, h, w) in metres. `fingerprint()` identifies architecture + hyper-parameters + weights,
so the SR-output cache can be content-addressed by it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

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


@dataclass(frozen=True)
class ArchSpec:
    """A learned SR architecture variant: how to build it and what it needs.

    `build(**hparams)` returns an nn.Module whose forward is `forward(lr)` for SISR models or
    `forward(lr, ref, ...)` for reference-based ones. Variants of one architecture (e.g. EDSR
    baseline / paper / large) are separate specs with different `hparams`.
    """

    arch: str
    build: Callable[..., torch.nn.Module]
    hparams: dict[str, Any] = field(default_factory=dict)
    needs_reference: bool = False
    scale: int = 4
    description: str = ""
    # Hyper-parameter overrides giving a tiny variant of the same code path, so tests build and
    # run every registered spec in well under a second (empty: the tests use `hparams`).
    tiny: dict[str, Any] = field(default_factory=dict)
    # Published figures the full variant must reproduce: "params" (count) and/or
    # "paper_gflops" (the paper's counter at LR 128x128); tests check what is present.
    reference: dict[str, float] = field(default_factory=dict)
