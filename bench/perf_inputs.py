"""What `bench perf backend` times: the spec of a learned backend or an exported file,
the model built from it and its inputs (fixed seeds), and a description of the model's size
(so rows of different sizes side by side say so).

Conventions (see bench/perf.py): CPU, batch 1, random weights and inputs; the LR of the given
size; a Ref `scale`x larger when the spec `needs_reference`; depth maps (LR and Ref↓, both of
the LR size, 1-10 m) when the built model `needs_depth`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from bench.errors import BenchError


def learned_spec(name: str) -> Any:
    """The registry spec of a trainable backend; a one-line BenchError for any other."""
    from sr_backends import BACKENDS

    return _trainable(name, BACKENDS.get(name))


def _trainable(name: str, spec: Any) -> Any:
    if not getattr(spec, "trainable", False):
        raise BenchError(f"bench perf backend times learned backends; {name!r} is not one "
                         f"(use `bench cost --backend {name}` or benchmarks/bench_backends.py)")
    return spec


def timeable_spec(name: str, spec: Any = None) -> Any:
    """A learned backend's spec, or a parametrised file backend's ("prefix:FILE", e.g. an
    exported ONNX model), which is timed through its `upscale` (weights fixed by the file).
    `spec`: the already resolved spec of `name` (no second look-up)."""
    from sr_backends import BACKENDS

    spec = spec if spec is not None else BACKENDS.get(name)
    if getattr(spec, "runtime_timed", False) and BACKENDS.argument(name):
        return spec
    return _trainable(name, spec)


def file_backend(name: str, threads: int) -> Any:
    """The ready file backend, its runtime on `threads` threads."""
    from sr_backends import BACKENDS

    torch.set_num_threads(threads)  # the backend's runtime takes the torch thread count
    backend = BACKENDS.get(name).create(name, weights=BACKENDS.argument(name))
    return backend


def upscale_args(backend: Any, lr_size: Sequence[int]) -> tuple[Any, ...]:
    g = torch.Generator().manual_seed(0)
    h, w = lr_size
    s = backend.scale
    lr = torch.rand(1, 3, h, w, generator=g)
    ref = torch.rand(1, 3, s * h, s * w, generator=g) if backend.needs_reference else None
    depth = (1 + 9 * torch.rand(1, 1, h, w, generator=g),
             1 + 9 * torch.rand(1, 1, h, w, generator=g)) if backend.needs_depth else None
    return lr, ref, depth


def build_model(spec: Any, hp: Mapping[str, Any],
                device: str | torch.device = "cpu") -> torch.nn.Module:
    torch.manual_seed(0)
    return spec.build(**dict(hp)).to(device).eval()


def model_inputs(spec: Any, model: torch.nn.Module, lr_size: Sequence[int],
                 device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
    """LR [+ Ref `scale`x] [+ depth of LR and Ref↓ at LR size], fixed seed."""
    g = torch.Generator().manual_seed(0)
    h, w = lr_size
    s = spec.scale
    t = [torch.rand(1, 3, h, w, generator=g)]
    if spec.needs_reference:
        t.append(torch.rand(1, 3, s * h, s * w, generator=g))
    if getattr(model, "needs_depth", False):  # the built model's own answer
        t += [1 + 9 * torch.rand(1, 1, h, w, generator=g),
              1 + 9 * torch.rand(1, 1, h, w, generator=g)]
    return tuple(x.to(device) for x in t)


def merged_hparams(spec: Any, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**spec.hparams, **dict(overrides or {})}


def describe_model(name: str, overrides: Mapping[str, Any] | None = None,
                   spec: Any = None) -> dict[str, Any]:
    """What a row times, so rows of different sizes side by side say so: the backend the
    weights belong to, its hyper-parameters and parameter count (built on the meta device).
    An exported file: the backend and hyper-parameters its metadata names (`spec.source`)."""
    from bench.metrics.counting import count_params
    from sr_backends import BACKENDS

    spec = timeable_spec(name, spec)
    source, hp = name, merged_hparams(spec, overrides)
    if spec.runtime_timed:
        source, hp = spec.source.get("backend"), dict(spec.source.get("hparams") or {})
        if source not in BACKENDS or not BACKENDS.get(source).trainable:
            return {"from": source, "hparams": hp, "params": None}
        spec = BACKENDS.get(source)
        hp = merged_hparams(spec, hp)
    with torch.device("meta"):
        params = count_params(spec.build(**hp))
    return {"from": source, "hparams": hp, "params": params}
