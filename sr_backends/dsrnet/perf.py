"""Timing of DSRNet: the matching stage across sizes, and a whole forward against the
machine's dense-convolution ceiling (wired into `bench perf matching|backend` by the CLI).

Conventions: CPU, fp32, batch 1, random weights and inputs (cost does not depend on them),
`threads` torch threads, latency = median of warm repeats. The ceiling is a dense 3x3 64->64
convolution at the LR size, measured just before and after each timed forward in the same
process with the same threads, in both memory layouts (NCHW and channels-last); the faster
layout is the ceiling, so a model that runs channels-last gets no credit for the layout alone.
Peak memory is the peak RSS of a fresh subprocess doing one forward (torch's CPU allocations
are invisible to tracemalloc); on CUDA it is torch.cuda.max_memory_allocated.

Allocator: forwards are timed in a fresh subprocess under the setting every `bench` process
uses (bench/allocator.py: glibc keeps freed memory). With glibc's defaults every x4 feature
map at LR 112x80 (36.7 MB) is a fresh mmap whose page faults cost ~0.3-0.45 s per forward,
while the LR-size ceiling conv never pays them; `tuned_malloc=False` reports that
configuration.

Depth U-Net: with depth_source="predicted" inference runs the 31M-parameter U-Net on LR and
Ref↓. The authors' published latency (3.87 s / 3.30 s) is for a forward that reads depth from
files, so the comparable figure, and the one the acceptance targets are about, is
"without_unet" (the same network fed with depth, depth_source="gt"); "with_unet" is reported
next to it.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any, Sequence

import torch

from bench.metrics.cost import (achieved_ratio, count_costs, dense_conv_gmacs_per_s,
                                measure_latency, torch_threads)
from sr_backends.dsrnet.cost import variant_spec
from sr_backends.dsrnet.matching import match

BENCH_SIZES = ((80, 112), (160, 224), (320, 448))  # LR (h, w); Ref is 4x


def _inputs(lr_size: Sequence[int], device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    h, w = lr_size
    t = (torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, 4 * h, 4 * w, generator=g),
         1 + 9 * torch.rand(1, 1, h, w, generator=g), 1 + 9 * torch.rand(1, 1, h, w, generator=g))
    return tuple(x.to(device) for x in t)


def _hparams(variant: str, depth_source: str) -> dict[str, Any]:
    # Inference only: no discriminator / VGG (they never run in the forward).
    return {**variant_spec(variant).hparams, "lambda_per": 0.0, "lambda_adv": 0.0,
            "vgg19_weights": None, "depth_source": depth_source}


def _build(hp: dict[str, Any], device: str | torch.device = "cpu") -> torch.nn.Module:
    from sr_backends.dsrnet.model import build_dsrnet

    torch.manual_seed(0)
    return build_dsrnet(**hp).to(device).eval()


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


def matching_perf(lr_sizes: Sequence[Sequence[int]] = BENCH_SIZES, repeats: int = 3,
                  threads: int = 2, n_feats: int = 64) -> list[dict[str, Any]]:
    """Seconds of the matching stage (coarse + fine + score) per LR size, Ref 4x (Ref↓ = LR
    size), and the growth per 4x area between consecutive sizes."""
    from torch.utils.flop_counter import FlopCounterMode

    rows: list[dict[str, Any]] = []
    with torch_threads(threads):
        for h, w in lr_sizes:
            g = torch.Generator().manual_seed(0)
            lr = torch.randn(1, n_feats, h, w, generator=g)
            rd = torch.randn(1, n_feats, h, w, generator=g)
            with torch.device("meta"), FlopCounterMode(display=False) as fc:
                match(torch.empty(1, n_feats, h, w), torch.empty(1, n_feats, h, w))
            lat = measure_latency(lambda: match(lr, rd), repeats=repeats, warmup=1)
            row = {"lr_size": [h, w], "ref_size": [4 * h, 4 * w], "seconds": lat["median_ms"] / 1e3,
                   "gmacs": fc.get_total_flops() / 2e9, "threads": lat["threads"]}
            if rows:  # normalised to a 4x area step (the default sizes are exactly 4x apart)
                area = h * w / (rows[-1]["lr_size"][0] * rows[-1]["lr_size"][1])
                ratio = row["seconds"] / rows[-1]["seconds"]
                row["growth_per_4x_area"] = ratio ** (math.log(4) / math.log(area))
            rows.append(row)
    return rows


def _peak_rss_child(variant: str, depth_source: str, lr_size: Sequence[int], threads: int) -> None:
    """Run in a fresh interpreter: one forward, print peak RSS (bytes) before/after as JSON,
    under the allocator setting every `bench` process uses (freed memory is kept, so this is
    the conservative figure)."""
    import resource

    from bench.allocator import keep_freed_memory

    allocator = keep_freed_memory()
    torch.set_num_threads(threads)
    model = _build(_hparams(variant, depth_source))
    inputs = _inputs(lr_size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    with torch.inference_mode():
        model(*inputs)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "peak": after, "allocator": allocator}))


def peak_memory(variant: str, lr_size: Sequence[int], depth_source: str = "gt",
                threads: int = 2, device: str = "cpu") -> dict[str, Any]:
    """Peak memory of one forward at LR `lr_size` (Ref 4x), in GB.

    CPU: peak RSS of a subprocess (model + inputs + forward; `forward_delta_gb` is the part
    the forward added). CUDA: torch.cuda.max_memory_allocated over the forward.
    """
    if device.startswith("cuda"):
        model = _build(_hparams(variant, depth_source), device)
        inputs = _inputs(lr_size, device)
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            model(*inputs)
        peak = torch.cuda.max_memory_allocated(device)
        return {"peak_gb": peak / 1e9, "forward_delta_gb": (peak - base) / 1e9,
                "method": "torch.cuda.max_memory_allocated", "device": device}
    code = ("from sr_backends.dsrnet.perf import _peak_rss_child as f; "
            f"f({variant!r}, {depth_source!r}, {list(lr_size)!r}, {threads})")
    r = _run_child(code)
    if "error" in r:
        return {"peak_gb": None, **r, "method": "subprocess peak RSS", "device": "cpu"}
    return {"peak_gb": r["peak"] / 1e9, "forward_delta_gb": (r["peak"] - r["before"]) / 1e9,
            "method": f"subprocess peak RSS (ru_maxrss), allocator: {r['allocator']}",
            "device": "cpu"}


def _forward_row(hp: dict[str, Any], lr_size: Sequence[int], repeats: int,
                 threads: int) -> dict[str, Any]:
    """Latency, MACs and the ceiling measured just before and after. The higher of the two is
    used: a ceiling measured low by a momentary disturbance (seen: 55 vs 105 GMAC/s in one
    run) would inflate the ratio, so the max errs on the conservative side."""
    with torch.device("meta"):
        meta = _build(hp, "meta")
        count = count_costs(meta, _inputs(lr_size, "meta"), meta, "meta")
    model = _build(hp)
    inputs = _inputs(lr_size)
    before = ceiling_gmacs_per_s(lr_size, threads)
    lat = measure_latency(lambda: model(*inputs), repeats=repeats, warmup=1)
    after = ceiling_gmacs_per_s(lr_size, threads)
    ceiling = max(before["ceiling"], after["ceiling"])
    seconds = lat["median_ms"] / 1e3
    return {"latency_s": seconds, "latency_p90_s": lat["p90_ms"] / 1e3, "gmacs": count.macs / 1e9,
            "achieved_gmacs_per_s": count.macs / seconds / 1e9,
            "dense_conv_gmacs_per_s": {"before": before, "after": after, "used": ceiling},
            "ratio_to_dense_conv": achieved_ratio(count.macs, seconds, ceiling)}


def _timing_child(variant: str, lr_size: Sequence[int], repeats: int, threads: int,
                  tuned_malloc: bool) -> None:
    """Run in a fresh interpreter: both forwards, printed as one JSON line."""
    from bench.allocator import keep_freed_memory

    allocator = keep_freed_memory() if tuned_malloc else "glibc default"
    torch.set_num_threads(threads)
    rows = {name: _forward_row(_hparams(variant, src), lr_size, repeats, threads)
            for name, src in (("without_unet", "gt"), ("with_unet", "predicted"))}
    print(json.dumps({"allocator": allocator, **rows}))


def _run_child(code: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"subprocess failed (exit {proc.returncode}): {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def backend_perf(variant: str, lr_size: Sequence[int] = (80, 112), repeats: int = 5,
                 threads: int = 2, memory: bool = True,
                 tuned_malloc: bool = True) -> dict[str, Any]:
    """Forward latency, MACs, achieved GMAC/s vs the dense-conv ceiling, peak memory.

    Timed in a fresh subprocess, with `tuned_malloc` under the allocator setting every `bench`
    process uses (bench/allocator.py: glibc keeps freed memory; False = stock glibc). "without_unet" (depth given, as in the authors' timing) is the figure the
    targets are about; "with_unet" adds the depth U-Net on LR and Ref↓.
    """
    code = ("from sr_backends.dsrnet.perf import _timing_child as f; "
            f"f({variant!r}, {list(lr_size)!r}, {repeats}, {threads}, {tuned_malloc!r})")
    report: dict[str, Any] = {
        "variant": variant, "lr_size": list(lr_size), "ref_size": [4 * lr_size[0], 4 * lr_size[1]],
        "device": "cpu", "threads": threads, "precision": "fp32", "repeats": repeats,
        **_run_child(code), "target_row": "without_unet",
        "note": "ratio_to_dense_conv = (MACs / median latency) / max(NCHW, channels-last) dense "
                "3x3 64->64 conv GMAC/s at the LR size, same run and threads; targets apply to "
                "without_unet (the authors' timing reads depth from files)"}
    if memory:
        report["peak_memory"] = peak_memory(variant, lr_size, "gt", threads)
    return report
