"""The SR backend interface (inference only) and the one kind of registry entry, `BackendSpec`.

`SRBackend.upscale(lr, ref=None, depth=None)` takes BCHW float tensors in [0, 1] and returns
the x`scale` output, also in [0, 1]. Reference-based backends (`needs_reference`) take a Ref of
HR size; backends that consume ground-truth depth (`needs_depth`, e.g. DSRNet with
depth_source="gt") also take `depth` = (depth of the LR, depth of the Ref downsampled to LR
size), each (B, 1, h, w) in metres. `fingerprint()` identifies architecture + hyper-parameters
+ weights, so the SR-output cache can be content-addressed by it.

Every `BACKENDS` entry is a `BackendSpec`. Its `kind` says where weights come from, and the
harness never compares it: it asks the capabilities the spec derives from it (`trainable`,
`takes_weights`, `needs_weights_file`, `exportable`, `runtime_timed`, `needs_reference`,
`needs_depth(hparams)`):
- "learned": `build(**hparams)` returns an nn.Module; weights come from the harness's trainer
  (cached) or a local file (`sr.weights.<name>`);
- "fixed": `build(scale=...)` returns a ready SRBackend (no weights, e.g. bicubic);
- "file": `build(weights, device=..., expected_scale=...)` returns an SRBackend from a local
  checkpoint the user must pass (`sr.weights.<name>`), e.g. `external`.
The harness resolves a name once (bench/backends.py) and calls `create`; nothing outside a
backend's module names it.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from bench.errors import BenchError
from sr_backends.interface import SRBackend  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class DistillSpec:
    """A learned backend whose weights come from distilling a teacher into a student
    architecture (`bench distill`, or `bench run` when the weights are missing).

    student: the backend whose architecture (hparams) is trained; teacher: the default
    teacher backend (`sr.distill.teacher` overrides it); objective: "module:attr" of
    `(student_model, teacher_model, settings) -> nn.Module` whose `training_losses(batch)`
    the SR trainer optimises and whose `inference_model()` is published as the weights."""

    student: str
    teacher: str
    objective: str


@dataclass(frozen=True)
class BackendSpec:
    """One registry entry: how to make a backend and what it needs.

    Variants of one architecture (e.g. EDSR baseline / paper / large) are separate specs with
    different `hparams`.
    """

    arch: str
    build: Callable[..., Any]
    hparams: dict[str, Any] = field(default_factory=dict)
    needs_reference: bool = False
    scale: int = 4
    kind: Literal["learned", "fixed", "file"] = "learned"
    # Hyper-parameter overrides giving a tiny variant of the same code path, so tests build and
    # run every registered spec in well under a second (empty: the tests use `hparams`).
    tiny: dict[str, Any] = field(default_factory=dict)
    # Published figures the full variant must reproduce: "params" (count) and/or
    # "paper_gflops" (the paper's Table 2 counter at LR 128x128); tests check what is present.
    reference: dict[str, float] = field(default_factory=dict)
    # The constructor whose keyword arguments `sr.hparams.<name>` may also set (when `build`
    # only forwards **kwargs); None: only the keys of `hparams` (and build's own keywords).
    model_class: Any = None
    # Optional "module:attr" of a function (name, spec, lr_size, ref_size, hparams=overrides)
    # -> dict
    # adding model-specific cost accounting to `bench cost` (e.g. DSRNet's U-Net split).
    cost_breakdown: str = ""
    # Set for a distilled backend (e.g. DSRNet-D); None: trained directly (or not at all).
    distill: DistillSpec | None = None
    # A "file" backend: what its file says it holds, {"backend": NAME, "hparams": {...}} (e.g.
    # the backend an ONNX file was exported from), so reports can state the model's size.
    source: dict[str, Any] = field(default_factory=dict)
    # The hyper-parameter (key, value) with which the model takes ground-truth depth as an
    # input (DSRNet: ("depth_source", "gt")); None: never.
    depth_input: tuple[str, Any] | None = None
    # Bump when a code change alters what training produces at the same hyper-parameters
    # (e.g. an initialisation): it enters the weights key when > 0, so weights trained by
    # the older code are never reused.
    revision: int = 0

    # -- capabilities: what the harness asks instead of comparing `kind` ----------------------
    @property
    def trainable(self) -> bool:
        """A PyTorch architecture (hyper-parameters, weights the harness can train)."""
        return self.kind == "learned"

    @property
    def takes_weights(self) -> bool:
        """Weights come from somewhere (the trainer or a file); False: a fixed method."""
        return self.kind != "fixed"

    @property
    def needs_weights_file(self) -> bool:
        """Only a local file the user passes makes this backend (e.g. external, onnx:FILE)."""
        return self.kind == "file"

    @property
    def exportable(self) -> bool:
        """`bench export` can write it to ONNX (a PyTorch module with weights)."""
        return self.trainable

    @property
    def runtime_timed(self) -> bool:
        """Timed through its own runtime's `upscale` (e.g. ONNX Runtime), not as a torch
        module: no hyper-parameter rows, no torch memory accounting."""
        return self.needs_weights_file

    def needs_depth(self, hparams: dict[str, Any] | None = None) -> bool:
        """Whether the model built with `hparams` (over the spec's) takes ground-truth depth."""
        if self.depth_input is None:
            return False
        key, value = self.depth_input
        return {**self.hparams, **(hparams or {})}.get(key) == value

    def hparam_names(self) -> set[str]:
        """Keys `sr.hparams.<name>` may set: the spec's own, plus the constructor's keywords."""
        names = set(self.hparams)
        classes = [c for c in getattr(self.model_class, "__mro__", ()) if "__init__" in vars(c)]
        for fn in [self.build] + [vars(c)["__init__"] for c in classes if c is not object]:
            try:
                params = inspect.signature(fn).parameters.values()
            except (TypeError, ValueError):  # builtins without a signature
                continue
            names |= {p.name for p in params if p.name != "self" and p.kind in
                      (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        return names

    def create(self, name: str, *, weights: Path | str | None = None, device: str = "cpu",
               hparams: dict[str, Any] | None = None, tile: int | None = None,
               scale: int | None = None, allow_random: bool = False) -> SRBackend:
        """A ready, inference-only backend."""
        if not self.takes_weights:
            return self.build(scale=scale or self.scale)
        if self.needs_weights_file:
            if weights is None:
                raise BenchError(f"backend {name!r} needs a local checkpoint: "
                                 f"--set sr.weights.{name}=/path/to/model.pth")
            return self.build(weights, device=device, expected_scale=scale or self.scale)
        from sr_backends.learned import LearnedBackend

        return LearnedBackend(name, self, weights, device=device, tile=tile, hparams=hparams,
                              allow_random=allow_random)


# The learned specs predate the other kinds; the name stays for them.
ArchSpec = BackendSpec
