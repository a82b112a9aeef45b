"""Timing of learned SR backends (`bench perf backend`) and of a model stage given as a probe
(`bench perf matching`): latency, achieved GMAC/s against the machine's dense-convolution
ceiling, peak memory. Harness code: it builds any learned spec from `BACKENDS`.

Conventions: CPU, fp32, batch 1, random weights and inputs (cost does not depend on them),
`threads` torch threads, latency = median of warm repeats. Inputs follow the spec: the LR of
the given size; a Ref `scale`x larger when the spec `needs_reference`; depth maps (LR and Ref↓,
both of the LR size, 1-10 m) when the built model `needs_depth`. The ceiling is a dense 3x3
64->64 convolution at the LR size, measured just before and after each timed forward in the
same process with the same threads, in both memory layouts (NCHW and channels-last); the
faster layout is the ceiling, so a model that runs channels-last gets no credit for the layout
alone. Peak memory is the peak RSS of a fresh subprocess doing one forward (torch's CPU
allocations are invisible to tracemalloc); on CUDA it is torch.cuda.max_memory_allocated.

Allocator: forwards are timed in a fresh subprocess under the setting every `bench` process
uses (bench/allocator.py: glibc keeps freed memory). With glibc's defaults every large feature
map (e.g. x4 maps at LR 112x80, 36.7 MB) is a fresh mmap whose page faults can cost tenths of
a second per forward, while the LR-size ceiling conv never pays them; `tuned_malloc=False`
reports that configuration.

Rows: `backend_perf(name, rows={"row": {hparam overrides}, ...})` times one or more variants
of the same spec in one subprocess (e.g. a model with and without an optional sub-network);
the first row is the "target_row" and the one whose peak memory is measured. Default: one row,
"forward", with the spec's own hyper-parameters.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any, Callable, Mapping, Sequence

import torch

from bench.errors import BenchError
from bench.metrics.counting import (achieved_ratio, count_costs, dense_conv_gmacs_per_s,
                                    measure_latency, torch_threads)
from bench.perf_inputs import (build_model, describe_model, file_backend, learned_spec,
                               merged_hparams, model_inputs, timeable_spec, upscale_args)

BENCH_SIZES = ((80, 112), (160, 224), (320, 448))  # LR (h, w) for probes; Ref is 4x
DEFAULT_ROWS: dict[str, dict[str, Any]] = {"forward": {}}
_REPORT_KEYS = {"backend", "lr_size", "ref_size", "device", "threads", "precision", "repeats",
                "row_hparams", "allocator", "error", "target_row", "note", "peak_memory",
                "model"}

# (h, w) -> (callable, inputs): a model stage to time, e.g. a model package's `perf_probe`.
Probe = Callable[[tuple[int, int]], tuple[Callable[..., Any], tuple[torch.Tensor, ...]]]


# --------------------------------------------------------------------------- ceiling
def ceiling_gmacs_per_s(lr_size: Sequence[int], threads: int,
                        repeats: int = 20) -> dict[str, float]:
    """Dense 3x3 64->64 conv GMAC/s at the LR size, NCHW and channels-last."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 64, *lr_size).contiguous(memory_format=torch.channels_last)
    with torch_threads(threads):
        lat = measure_latency(lambda: conv(x), repeats=repeats, warmup=2)
    nhwc = 9 * 64 * 64 * lr_size[0] * lr_size[1] / (lat["median_ms"] / 1e3) / 1e9
    nchw = dense_conv_gmacs_per_s(64, tuple(lr_size), threads=threads, repeats=repeats, warmup=2)
    return {"nchw": nchw, "channels_last": nhwc, "ceiling": max(nchw, nhwc)}


# --------------------------------------------------------------------------- probes
def probe_perf(probe: Probe, lr_sizes: Sequence[Sequence[int]] = BENCH_SIZES, repeats: int = 3,
               threads: int = 2, ref_scale: int = 4) -> list[dict[str, Any]]:
    """Seconds and GMACs of `fn(*inputs)` from `probe((h, w))` per LR size, and the growth
    per 4x area between consecutive sizes (linear in area = 4.0). MACs are counted on the
    meta device (FlopCounterMode FLOPs / 2); "ref_size" is `ref_scale`x the LR size, the
    probe's contract."""
    from torch.utils.flop_counter import FlopCounterMode

    rows: list[dict[str, Any]] = []
    with torch_threads(threads):
        for h, w in lr_sizes:
            fn, inputs = probe((h, w))
            with torch.device("meta"), FlopCounterMode(display=False) as fc:
                fn(*(t.to("meta") for t in inputs))
            lat = measure_latency(lambda: fn(*inputs), repeats=repeats, warmup=1)
            row = {"lr_size": [h, w], "ref_size": [ref_scale * h, ref_scale * w],
                   "seconds": lat["median_ms"] / 1e3, "gmacs": fc.get_total_flops() / 2e9,
                   "threads": lat["threads"]}
            if rows:  # normalised to a 4x area step (the default sizes are exactly 4x apart)
                area = h * w / (rows[-1]["lr_size"][0] * rows[-1]["lr_size"][1])
                ratio = row["seconds"] / rows[-1]["seconds"]
                row["growth_per_4x_area"] = ratio ** (math.log(4) / math.log(area))
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- memory
def _peak_rss_child(name: str, hparams_json: str, lr_size: Sequence[int], threads: int) -> None:
    """Run in a fresh interpreter: one forward, print peak RSS (bytes) before/after as JSON,
    under the allocator setting every `bench` process uses (freed memory is kept, so this is
    the conservative figure)."""
    import resource

    from bench.allocator import keep_freed_memory

    allocator = keep_freed_memory()
    torch.set_num_threads(threads)
    spec = learned_spec(name)
    model = build_model(spec, merged_hparams(spec, json.loads(hparams_json)))
    inputs = model_inputs(spec, model, lr_size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    with torch.inference_mode():
        model(*inputs)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "peak": after, "allocator": allocator}))


def _file_peak_rss_child(name: str, lr_size: Sequence[int], threads: int) -> None:
    """As _peak_rss_child, for a file backend: one `upscale` (runtime session included)."""
    import resource

    from bench.allocator import keep_freed_memory

    allocator = keep_freed_memory()
    backend = file_backend(name, threads)
    args = upscale_args(backend, lr_size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    backend.upscale(*args)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "peak": after, "allocator": allocator}))


def peak_memory(name: str, lr_size: Sequence[int], hparams: Mapping[str, Any] | None = None,
                threads: int = 2, device: str = "cpu", spec: Any = None) -> dict[str, Any]:
    """Peak memory of one forward of learned backend `name` at LR `lr_size` (h, w), in GB;
    `hparams` overrides the spec's.

    CPU: peak RSS of a subprocess (model + inputs + forward; `forward_delta_gb` is the part
    the forward added). CUDA: torch.cuda.max_memory_allocated over the forward.
    """
    spec = timeable_spec(name, spec)
    if spec.runtime_timed:  # CPU only: an ORT session's memory is not torch's to count
        r = _run_child("from bench.perf import _file_peak_rss_child as f; "
                       f"f({name!r}, {list(lr_size)!r}, {threads})")
        if "error" in r:
            return {"peak_gb": None, **r, "method": "subprocess peak RSS", "device": "cpu"}
        return {"peak_gb": r["peak"] / 1e9, "forward_delta_gb": (r["peak"] - r["before"]) / 1e9,
                "method": f"subprocess peak RSS (ru_maxrss), allocator: {r['allocator']}",
                "device": "cpu"}
    if device.startswith("cuda"):
        model = build_model(spec, merged_hparams(spec, hparams), device)
        inputs = model_inputs(spec, model, lr_size, device)
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            model(*inputs)
        peak = torch.cuda.max_memory_allocated(device)
        return {"peak_gb": peak / 1e9, "forward_delta_gb": (peak - base) / 1e9,
                "method": "torch.cuda.max_memory_allocated", "device": device}
    code = ("from bench.perf import _peak_rss_child as f; "
            f"f({name!r}, {json.dumps(dict(hparams or {}))!r}, {list(lr_size)!r}, {threads})")
    r = _run_child(code)
    if "error" in r:
        return {"peak_gb": None, **r, "method": "subprocess peak RSS", "device": "cpu"}
    return {"peak_gb": r["peak"] / 1e9, "forward_delta_gb": (r["peak"] - r["before"]) / 1e9,
            "method": f"subprocess peak RSS (ru_maxrss), allocator: {r['allocator']}",
            "device": "cpu"}


# --------------------------------------------------------------------------- forward timing
def _forward_row(spec: Any, hp: dict[str, Any], lr_size: Sequence[int], repeats: int,
                 threads: int) -> dict[str, Any]:
    """Latency, MACs and the ceiling measured just before and after. The higher of the two is
    used: a ceiling measured low by a momentary disturbance (seen: 55 vs 105 GMAC/s in one
    run) would inflate the ratio, so the max errs on the conservative side."""
    with torch.device("meta"):
        meta = build_model(spec, hp, "meta")
        count = count_costs(meta, model_inputs(spec, meta, lr_size, "meta"), meta, "meta")
    model = build_model(spec, hp)
    inputs = model_inputs(spec, model, lr_size)
    before = ceiling_gmacs_per_s(lr_size, threads)
    lat = measure_latency(lambda: model(*inputs), repeats=repeats, warmup=1)
    after = ceiling_gmacs_per_s(lr_size, threads)
    ceiling = max(before["ceiling"], after["ceiling"])
    seconds = lat["median_ms"] / 1e3
    return {"latency_s": seconds, "latency_p90_s": lat["p90_ms"] / 1e3, "gmacs": count.macs / 1e9,
            "achieved_gmacs_per_s": count.macs / seconds / 1e9,
            "dense_conv_gmacs_per_s": {"before": before, "after": after, "used": ceiling},
            "ratio_to_dense_conv": achieved_ratio(count.macs, seconds, ceiling)}


def _timing_child(name: str, rows_json: str, lr_size: Sequence[int], repeats: int, threads: int,
                  tuned_malloc: bool) -> None:
    """Run in a fresh interpreter: every row's forward, printed as one JSON line."""
    from bench.allocator import keep_freed_memory

    allocator = keep_freed_memory() if tuned_malloc else "glibc default"
    torch.set_num_threads(threads)
    spec = learned_spec(name)
    rows = {row: _forward_row(spec, merged_hparams(spec, hp), lr_size, repeats, threads)
            for row, hp in json.loads(rows_json).items()}
    print(json.dumps({"allocator": allocator, **rows}))


def _file_timing_child(name: str, lr_size: Sequence[int], repeats: int, threads: int,
                       tuned_malloc: bool) -> None:
    """Run in a fresh interpreter: a file backend's `upscale` (for an exported model: Ref↓ in
    torch + the runtime's session.run + clamp), with the dense-conv ceiling around it."""
    from bench.allocator import keep_freed_memory

    allocator = keep_freed_memory() if tuned_malloc else "glibc default"
    backend = file_backend(name, threads)
    args = upscale_args(backend, lr_size)
    before = ceiling_gmacs_per_s(lr_size, threads)
    lat = measure_latency(lambda: backend.upscale(*args), repeats=repeats, warmup=1)
    after = ceiling_gmacs_per_s(lr_size, threads)
    print(json.dumps({"allocator": allocator, "forward": {
        "latency_s": lat["median_ms"] / 1e3, "latency_p90_s": lat["p90_ms"] / 1e3,
        "dense_conv_gmacs_per_s": {"before": before, "after": after,
                                   "used": max(before["ceiling"], after["ceiling"])},
        "timed": "upscale(): inputs prepared in torch, the runtime's run, clamp"}}))


def _run_child(code: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"subprocess failed (exit {proc.returncode}): {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def backend_perf(name: str, lr_size: Sequence[int] = (80, 112), repeats: int = 5,
                 threads: int = 2, memory: bool = True, tuned_malloc: bool = True,
                 rows: Mapping[str, Mapping[str, Any]] | None = None,
                 spec: Any = None) -> dict[str, Any]:
    """Forward latency, MACs, achieved GMAC/s vs the dense-conv ceiling, peak memory of the
    learned backend `name` at LR `lr_size` (h, w); a parametrised file backend ("onnx:FILE")
    is timed through its `upscale` (no MAC count: its graph is not a torch module).

    `rows` maps a row name to hyper-parameter overrides of the spec (default: one row
    "forward" with the spec's own); the first row is the "target_row", and the one whose peak
    memory is measured. Timed in a fresh subprocess, with `tuned_malloc` under the allocator
    setting every `bench` process uses (bench/allocator.py: glibc keeps freed memory; False =
    stock glibc). `spec`: the caller's resolved spec of `name` (no second look-up).
    """
    spec = timeable_spec(name, spec)
    rows = {str(k): dict(v) for k, v in (rows or DEFAULT_ROWS).items()}
    if spec.runtime_timed and rows != DEFAULT_ROWS:
        raise BenchError(f"backend {name!r}: its file fixes the model; hyper-parameter rows "
                         "apply to learned backends only")
    if not rows:
        raise BenchError("backend_perf: `rows` is empty")
    if clash := sorted(_REPORT_KEYS & rows.keys()):
        raise BenchError(f"backend_perf: {', '.join(map(repr, clash))} cannot name a row "
                         "(report keys)")
    s = spec.scale
    code = ("from bench.perf import _timing_child as f; "
            f"f({name!r}, {json.dumps(rows)!r}, {list(lr_size)!r}, {repeats}, {threads}, "
            f"{tuned_malloc!r})")
    if spec.runtime_timed:
        code = ("from bench.perf import _file_timing_child as f; "
                f"f({name!r}, {list(lr_size)!r}, {repeats}, {threads}, {tuned_malloc!r})")
    target = next(iter(rows))
    report: dict[str, Any] = {
        "backend": name, "lr_size": list(lr_size),
        "ref_size": [s * lr_size[0], s * lr_size[1]] if spec.needs_reference else None,
        "device": "cpu", "threads": threads, "precision": "fp32", "repeats": repeats,
        "row_hparams": rows,
        **_run_child(code), "target_row": target,
        "model": describe_model(name, rows[target], spec),
        "note": "ratio_to_dense_conv = (MACs / median latency) / max(NCHW, channels-last) dense "
                "3x3 64->64 conv GMAC/s at the LR size, same run and threads"}
    if memory:
        report["peak_memory"] = peak_memory(name, lr_size, rows[target], threads, spec=spec)
    return report
