"""`LearnedBackend`: an `ArchSpec` + a safetensors weights file -> an inference-only SRBackend.

Weights come from `bench train-sr` (`<weights_dir>/<name>.safetensors` + `.json` sidecar) or a
file the user passes. A random initialisation is only built when asked for explicitly
(`allow_random=True`, e.g. for cost counting, where weights do not matter): an untrained model
silently producing SR outputs would make every downstream number meaningless.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from sr_backends.interface import SRBackend
from sr_backends.weights import jsonable, load_weights, tensor_file

# `spec` below is a sr_backends.base.BackendSpec; base.py makes LearnedBackends, so importing
# it here (even for typing) would close a circle.


def default_weights_path(name: str, weights_dir: Path | str) -> Path:
    """Stem of a backend's trained weights; the trainer writes `<stem>.safetensors` + `.json`."""
    return Path(weights_dir) / f"{name}"


def _check_image(t: torch.Tensor, what: str) -> None:
    if t.ndim != 4 or t.shape[1] != 3:
        raise BenchError(f"{what} must be a (B,3,H,W) tensor, got shape {tuple(t.shape)}")


class LearnedBackend(SRBackend):
    def __init__(self, name: str, spec: Any, weights: Path | str | None = None,
                 device: str | torch.device = "cpu", tile: int | None = None, *,
                 allow_random: bool = False, hparams: dict[str, Any] | None = None,
                 tile_overlap: int = 8, seed: int = 0) -> None:
        """`hparams` overrides the spec's (e.g. a smoke-profile variant); a weights file
        trained with other hyper-parameters is refused rather than half-loaded."""
        self.name, self.spec = name, spec
        self.scale, self.needs_reference = spec.scale, spec.needs_reference
        self.build_hparams: dict[str, Any] = {**spec.hparams, **(hparams or {})}
        self.hparams: dict[str, Any] = jsonable(self.build_hparams)  # compared and hashed
        self.device = torch.device(device)
        self.tile, self.tile_overlap = tile, tile_overlap
        if tile is not None and tile <= 0:
            raise BenchError(f"backend {name!r}: tile must be a positive LR size, got {tile}")
        self.meta: dict[str, Any] = {}
        if weights is None:
            if not allow_random:
                raise BenchError(
                    f"backend {name!r} has no trained weights: train it first with "
                    f"`bench train-sr --backend {name}` or pass a weights file")
            # A fixed seed makes the random model (and so its fingerprint) reproducible,
            # without disturbing the caller's RNG stream.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.model = spec.build(**self.build_hparams)
            self.weights: Path | None = None
            self._weights_id = f"random-init-seed{seed}"
        else:
            self.weights = tensor_file(weights)
            state, self.meta = load_weights(weights, expected_arch=spec.arch)
            trained = self.meta.get("hparams")
            if trained is not None and jsonable(trained) != self.hparams:
                diff = {k: (trained.get(k), self.hparams.get(k))
                        for k in sorted(set(trained) | set(self.hparams))
                        if trained.get(k) != self.hparams.get(k)}
                raise BenchError(f"{self.weights}: trained with other hyper-parameters than "
                                 f"backend {name!r} (key: (file, backend)) {diff}")
            self.model = spec.build(**self.build_hparams)
            try:
                self.model.load_state_dict(state, strict=True)
            except RuntimeError as e:
                first = str(e).strip().splitlines()[0:2]
                raise BenchError(f"{self.weights}: does not fit architecture {spec.arch!r} "
                                 f"({' '.join(first)})") from None
            self._weights_id = self.meta["sha256"]
        self.model.eval().requires_grad_(False).to(self.device)
        self.needs_depth = bool(getattr(self.model, "needs_depth", False))

    def fingerprint(self) -> str:
        ident = {"arch": self.spec.arch, "hparams": self.hparams, "scale": self.scale,
                 "weights": self._weights_id}
        if self.tile is not None:  # tiling changes outputs slightly at tile seams
            ident["tile"] = [self.tile, self.tile_overlap]
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def upscale(self, lr: torch.Tensor, ref: torch.Tensor | None = None,
                depth: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        _check_image(lr, "LR")
        out_device = lr.device
        with torch.inference_mode():
            x = lr.to(self.device, torch.float32)
            if self.needs_reference:
                if ref is None:
                    raise BenchError(f"backend {self.name!r} is reference-based and needs a "
                                     "Ref image (set the reference policy, e.g. 'self')")
                _check_image(ref, "Ref")
                extra = ()
                if self.needs_depth:
                    if depth is None:
                        raise BenchError(f"backend {self.name!r} takes ground-truth depth "
                                         "(depth_source='gt'): pass depth=(depth_lr, "
                                         "depth_ref_down), or use a dataset with depth maps")
                    extra = tuple(d.to(self.device, torch.float32) for d in depth)
                # Reference models see the whole image: matching needs global context.
                out = self.model(x, ref.to(self.device, torch.float32), *extra)
            elif self.tile is not None and max(x.shape[-2:]) > self.tile:
                out = self._tiled(x)
            else:
                out = self.model(x)
            return out.clamp_(0.0, 1.0).to(out_device)

    def _tiled(self, x: torch.Tensor) -> torch.Tensor:
        """Run on overlapping LR tiles, keeping each tile's centre (bounds peak memory)."""
        b, c, h, w = x.shape
        s, t, ov = self.scale, self.tile, self.tile_overlap
        out = x.new_zeros(b, c, h * s, w * s)
        for y0 in range(0, h, t):
            for x0 in range(0, w, t):
                y1, x1 = min(y0 + t, h), min(x0 + t, w)
                ya, xa = max(y0 - ov, 0), max(x0 - ov, 0)
                yb, xb = min(y1 + ov, h), min(x1 + ov, w)
                sr = self.model(x[..., ya:yb, xa:xb])
                out[..., y0 * s:y1 * s, x0 * s:x1 * s] = \
                    sr[..., (y0 - ya) * s:(y1 - ya) * s, (x0 - xa) * s:(x1 - xa) * s]
        return out


def load_backend(name: str, weights: Path | str | None = None,
                 weights_dir: Path | str | None = None, device: str = "cpu",
                 tile: int | None = None, allow_random: bool = False) -> SRBackend:
    """Registry name -> ready backend (a convenience for scripts; the harness resolves names
    once in bench/backends.py). A learned spec without `weights` takes
    `<weights_dir>/<name>.safetensors` when that exists."""
    from sr_backends import BACKENDS

    spec = BACKENDS.get(name)
    if spec.trainable and weights is None and weights_dir is not None:
        stem = default_weights_path(name, weights_dir)
        weights = stem if tensor_file(stem).is_file() else None
    return spec.create(name, weights=weights, device=device, tile=tile,
                       allow_random=allow_random)
