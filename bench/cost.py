"""`cost_report`: the compute cost of one SR backend (harness; takes resolved backends).

Params, MACs (two independent counters), a reconstruction of the GFLOPs convention behind the
paper's Table 2 (its rules are not stated) and latency, built on
the core counting module `bench.metrics.counting` (which models may import; this module they
may not; it sits above `bench.metrics`, which is pure core). Model-specific accounting (e.g. a depth network reported apart) is not here: a spec
declares it in `BackendSpec.cost_breakdown` and `bench cost` adds it.

Conventions (stated in every report):
- MACs: see `bench.metrics.counting` (conv + matmul multiply-accumulates, no bias or
  elementwise ops, a transposed conv on its input grid; two counters cross-check each other).
- paper_gflops: see `bench.metrics.flops_paper` (reproduces the sewer paper's Table 2).
- Counting runs on the meta device (shapes only, no arithmetic), so counting ATD at
  128x128 is instant; models whose forward needs real values fall back to a CPU forward.
- Latency (`timed_latency`): warm-up calls until both WARMUP_CALLS calls and WARMUP_S seconds
  are done (first calls pay allocation and kernel selection), then enough timed repeats for a
  stable median: by default at least MIN_REPEATS and at least MIN_TIMED_S seconds of timed
  work (at most MAX_REPEATS); median, inter-quartile range, min and max, at batch 1, random
  weights (weights do not change cost), stated device, torch thread count and precision.
- Sizes: tuples are (height, width); strings are "WIDTHxHEIGHT" (`bench.sizes.parse_size`).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from bench.errors import BenchError
from bench.metrics.counting import (CostCount, count_costs, count_params, measure_latency,
                                    torch_threads)
from bench.sizes import parse_size

WARMUP_CALLS, WARMUP_S = 2, 1.0
MIN_REPEATS, MIN_TIMED_S, MAX_REPEATS = 5, 5.0, 200

CONVENTIONS = ("macs: multiply-accumulates of conv + matmul, no bias/elementwise, transposed "
               "conv on its input grid; paper_gflops: the sewer paper's Table 2 counter "
               "(conv multiplies on the output grid, no bias, + 1 op per elementwise output); "
               "latency: median [IQR] of warm repeats after a timed warm-up, batch 1, random "
               "weights")


# --------------------------------------------------------------------------- report
def _parse_size(size: tuple[int, int] | str, what: str) -> tuple[int, int]:
    """(height, width) tuples pass through; strings are WIDTHxHEIGHT."""
    if isinstance(size, str):
        return parse_size(size, what)
    return int(size[0]), int(size[1])


def timed_latency(fn: Callable[[], Any], repeats: int | None = None,
                  warmup: int | None = None, device: str | torch.device = "cpu"
                  ) -> dict[str, Any]:
    """Latency of `fn()` (see the module docstring). `repeats=None` chooses the count from
    the warm-up's time per call; `warmup=None` warms up by count and time. Explicit counts
    are used as given."""
    import time

    from bench.metrics.counting import _sync

    calls, per_call, t0 = 0, 0.0, time.perf_counter()
    with torch.inference_mode():
        while (calls < warmup if warmup is not None else
               calls < WARMUP_CALLS or (time.perf_counter() - t0 < WARMUP_S
                                        and per_call < WARMUP_S)):
            t_call = time.perf_counter()
            fn()
            _sync(device)
            calls += 1
            per_call = time.perf_counter() - t_call
    if repeats is None:
        repeats = (MIN_REPEATS if per_call <= 0 else
                   min(MAX_REPEATS, max(MIN_REPEATS, math.ceil(MIN_TIMED_S / per_call))))
    lat = measure_latency(fn, repeats, warmup=0, device=device)
    lat["warmup"] = calls
    return lat


def _random_inputs(needs_ref: bool, lr_size: tuple[int, int], ref_size: tuple[int, int],
                   device: str | torch.device) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(1, 3, *lr_size, generator=g)
    inputs = (lr, torch.rand(1, 3, *ref_size, generator=g)) if needs_ref else (lr,)
    return tuple(t.to(device) for t in inputs)


def cost_report(backend_name: str | Any, lr_size: tuple[int, int] | str = (128, 128),
                ref_size: tuple[int, int] | str | None = None, device: str = "cpu",
                latency_repeats: int | None = None, latency_warmup: int | None = None,
                threads: int | None = None,
                weights: str | None = None, hparams: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    """Params, MACs (+ cross-check), paper GFLOPs and latency of one backend.

    `backend_name` is a `ResolvedBackend` (bench/backends.py: the commands resolve names
    once), a registry name, or an ArchSpec (for specs not registered yet). Sizes are
    (height, width) tuples or "WIDTHxHEIGHT" strings.
    Learned specs are built with random weights; reference-based ones get a Ref of 4x the LR
    size unless `ref_size` says otherwise. `latency_repeats`: None = as many as a stable
    median needs (`timed_latency`), 0 = no latency measurement (latency keys are None).
    """
    from sr_backends import BACKENDS
    from sr_backends.base import ArchSpec, SRBackend

    lr_hw = _parse_size(lr_size, "lr_size")
    if isinstance(backend_name, ArchSpec):
        entry, backend_name = backend_name, backend_name.arch
    elif isinstance(getattr(backend_name, "spec", None), ArchSpec):  # a ResolvedBackend
        resolved = backend_name
        entry, backend_name = resolved.spec, resolved.name
        weights = weights if weights is not None else resolved.weights_file
        # the sizes that run: the profile's sr.hparams overrides (e.g. the quick RCAN)
        hparams = {**(resolved.hparams or {}), **(hparams or {})}
    else:
        entry = BACKENDS.get(backend_name)
    report: dict[str, Any] = {"backend": backend_name, "lr_size": list(lr_hw)}
    with torch_threads(threads) as n_threads:
        if isinstance(entry, ArchSpec) and entry.trainable:
            needs_ref, scale = entry.needs_reference, entry.scale
            hp = {**entry.hparams, **(hparams or {})}
            ref_hw = (_parse_size(ref_size, "ref_size") if ref_size
                      else (lr_hw[0] * scale, lr_hw[1] * scale))
            count: CostCount | None = None
            try:  # shapes only: instant even for ATD at 128x128, and no weights to initialise
                with torch.device("meta"):
                    meta_model = entry.build(**hp).to("meta").eval()
                meta_in = _random_inputs(needs_ref, lr_hw, ref_hw, "meta")
                count = count_costs(meta_model, meta_in, meta_model, "meta")
                n_params = count_params(meta_model)
            except Exception:  # data-dependent forward (.item(), python control flow on values)
                count = None
            if count is None or latency_repeats != 0:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    model = entry.build(**hp).to(device).eval()
                inputs = _random_inputs(needs_ref, lr_hw, ref_hw, device)
                if count is None:
                    count = count_costs(model, inputs, model, str(device))
                n_params = count_params(model)
                fn: Callable[[], Any] = lambda: model(*inputs)  # noqa: E731
            report.update(arch=entry.arch, hparams=hp, reference=dict(entry.reference),
                          params=n_params)
        elif isinstance(entry, ArchSpec) or (isinstance(entry, type)
                                             and issubclass(entry, SRBackend)):
            if isinstance(entry, ArchSpec):  # "fixed" / "file" specs make a ready SRBackend
                backend = entry.create(backend_name, weights=weights, device=device)
            else:
                backend = entry(weights, device=device) if weights is not None else entry()
            needs_ref = backend.needs_reference
            scale = getattr(backend, "scale", 4)
            ref_hw = (_parse_size(ref_size, "ref_size") if ref_size
                      else (lr_hw[0] * scale, lr_hw[1] * scale))
            inputs = _random_inputs(needs_ref, lr_hw, ref_hw, device)
            model = getattr(backend, "model", None)
            count = count_costs(backend.upscale, inputs, model, str(device))
            fn = lambda: backend.upscale(*inputs)  # noqa: E731
            report.update(arch=getattr(entry, "arch", backend_name),
                          params=count_params(model) if model else 0)
        else:
            raise BenchError(f"backend {backend_name!r} is neither an ArchSpec nor an SRBackend")
        report.update(
            ref_size=list(ref_hw) if needs_ref else None,
            macs=count.macs, gmacs=count.macs / 1e9, macs_counter_check=count.macs_check,
            paper_gflops=count.paper_flops / 1e9, paper_breakdown=count.paper_breakdown,
            counted_on=count.counted_on, device=str(device), threads=n_threads,
            precision="fp32", conventions=CONVENTIONS,
            latency_ms=None, latency_p90_ms=None, latency_q1_ms=None, latency_q3_ms=None,
            latency_min_ms=None, latency_max_ms=None, latency_repeats=0, latency_warmup=0)
        if latency_repeats != 0:
            lat = timed_latency(fn, latency_repeats, latency_warmup, device=device)
            report.update(latency_ms=lat["median_ms"], latency_p90_ms=lat["p90_ms"],
                          latency_q1_ms=lat["q1_ms"], latency_q3_ms=lat["q3_ms"],
                          latency_min_ms=lat["min_ms"], latency_max_ms=lat["max_ms"],
                          latency_repeats=lat["repeats"], latency_warmup=lat["warmup"])
    return report
