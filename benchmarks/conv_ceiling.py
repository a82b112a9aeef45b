"""How fast can an fp32 DSRNet-S forward be on this CPU? The ceilings behind issue 13's speed
target (deployed student <= 0.77x today's PyTorch `dsrnet-s`, output within 1e-4).

    python benchmarks/conv_ceiling.py                 # ~3 min on a quiet 2-core machine
    python benchmarks/conv_ceiling.py --repeats 3 --out /tmp/c.json   # a quick check

Measured in one process, `--threads` threads (default 2), median of `--repeats`:
1. MKL sgemm 4096^3: the machine's practical fp32 multiply-accumulate rate.
2. Every 64->64 3x3 stride-1 convolution size the student runs at LR 112x80 (Ref 448x320):
   oneDNN channels-last (what our forward uses) and NCHW, as GMAC/s; and NNPACK's Winograd
   convolution (`torch._nnpack_spatial_convolution`, NCHW, a private torch API), which needs
   fewer multiplies than a direct convolution, as a time ratio to oneDNN channels-last and its
   max abs error against a float64 convolution next to oneDNN's.
3. The whole student forward (random init, depth given): fp32 as built; every stride-1 3x3
   convolution swapped for NNPACK's (a monkeypatch of `F.conv2d`, benchmark only); bf16
   autocast. Each as a ratio to fp32 and max abs vs fp32; achieved GMAC/s of the fp32 forward
   against the dense-conv rate at the LR size.

Writes `--out` (JSON, atomically). Timings on a machine shared with other work are noise.
"""
from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Stride-1 64-channel 3x3 conv sizes of DSRNet-S at LR 112x80: Ref levels 1-3 (448x320,
# 224x160, 112x80) and LR levels 1-3 (112x80, 56x40, 28x20); the decoder runs at x1/x2/x4.
TARGET_RATIO = 0.77
SIZES = ((320, 448), (160, 224), (80, 112), (40, 56), (20, 28))


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    from bench.metrics.counting import measure_latency

    return measure_latency(fn, repeats=repeats, warmup=1)["median_ms"] / 1e3


_DIRECT_CONV = F.conv2d


def _nnpack_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, min_area=0):
    """F.conv2d with NNPACK's Winograd kernel for the stride-1 padded 3x3 convs it supports
    on maps of at least `min_area` pixels."""
    s = stride if isinstance(stride, int) else stride[0]
    if w.shape[-2:] == (3, 3) and s == 1 and groups == 1 and padding in (1, (1, 1)) \
            and x.shape[1] > 3 and w.shape[1] <= 64 and x.shape[-2] * x.shape[-1] >= min_area:
        b = torch.zeros(w.shape[0]) if b is None else b
        y = torch._nnpack_spatial_convolution(x.contiguous(), w.contiguous(), b, [1, 1, 1, 1])
        return y.contiguous(memory_format=torch.channels_last)
    return _DIRECT_CONV(x, w, b, stride, padding, dilation, groups)


def conv_rows(repeats: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    rows = []
    for h, w in SIZES:
        x = torch.rand(1, 64, h, w, generator=g)
        wt = torch.randn(64, 64, 3, 3, generator=g) * (2 / 576) ** 0.5
        b = torch.zeros(64)
        xc = x.contiguous(memory_format=torch.channels_last)
        exact = F.conv2d(x.double(), wt.double(), b.double(), padding=1)
        macs = 9 * 64 * 64 * h * w
        t_nhwc = _median_s(lambda: F.conv2d(xc, wt, b, padding=1), repeats)
        t_nchw = _median_s(lambda: F.conv2d(x, wt, b, padding=1), repeats)
        t_wino = _median_s(lambda: torch._nnpack_spatial_convolution(x, wt, b, [1, 1, 1, 1]),
                           repeats)
        err = {k: float((y.double() - exact).abs().max()) for k, y in (
            ("onednn", F.conv2d(xc, wt, b, padding=1)),
            ("nnpack_winograd", torch._nnpack_spatial_convolution(x, wt, b, [1, 1, 1, 1])))}
        rows.append({"size_hw": [h, w], "onednn_channels_last_gmacs_per_s": macs / t_nhwc / 1e9,
                     "onednn_nchw_gmacs_per_s": macs / t_nchw / 1e9,
                     "nnpack_winograd_time_ratio": t_wino / t_nhwc,
                     "max_abs_vs_float64": err, "output_max_abs": float(exact.abs().max())})
    return rows


def model_rows(repeats: int, lr_hw: tuple[int, int]) -> dict:
    from bench.metrics.counting import count_costs
    from sr_backends import BACKENDS

    spec = BACKENDS.get("dsrnet-s")
    model = spec.create("dsrnet-s", allow_random=True,
                        hparams={"depth_source": "gt"}).model.eval()
    g = torch.Generator().manual_seed(0)
    h, w = lr_hw
    lr, ref = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, 4 * h, 4 * w, generator=g)
    depth = (1 + 9 * torch.rand(1, 1, h, w, generator=g),
             1 + 9 * torch.rand(1, 1, h, w, generator=g))
    run = lambda: model(lr, ref, *depth)  # noqa: E731

    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(lr, ref, *depth).float()

    def winograd(min_area=0):
        F.conv2d = functools.partial(_nnpack_conv, min_area=min_area)
        try:
            return run()
        finally:
            F.conv2d = _DIRECT_CONV

    with torch.inference_mode():
        want = run()
        base = _median_s(run, repeats)
        out = {"fp32 (as built)": {"median_s": base, "ratio": 1.0, "max_abs": 0.0}}
        for name, fn in (("NNPACK Winograd for every stride-1 3x3 conv", winograd),
                         ("NNPACK Winograd where it was faster (maps >= 224x160)",
                          functools.partial(winograd, 160 * 224)),
                         ("bf16 autocast", bf16)):
            t = _median_s(fn, repeats)
            out[name] = {"median_s": t, "ratio": t / base,
                         "max_abs": float((fn() - want).abs().max())}
    macs = count_costs(model, (lr, ref, *depth), model).macs
    out["fp32 (as built)"]["achieved_gmacs_per_s"] = macs / base / 1e9
    out["fp32 (as built)"]["gmacs"] = macs / 1e9
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "conv-ceiling.json")
    args = ap.parse_args(argv)
    from bench import atomic
    from bench.allocator import keep_freed_memory

    allocator = keep_freed_memory()
    torch.set_num_threads(args.threads)
    if not torch._nnpack_available():  # also initialises NNPACK (its first call fails without)
        sys.exit("this torch build has no NNPACK")
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    sgemm = 4096 ** 3 / _median_s(lambda: torch.mm(a, b), args.repeats) / 1e9
    convs = conv_rows(args.repeats)
    model = model_rows(args.repeats, (80, 112))
    dense_lr = next(r for r in convs if r["size_hw"] == [80, 112])
    model["fp32 (as built)"]["ratio_to_dense_conv_at_lr_size"] = \
        model["fp32 (as built)"]["achieved_gmacs_per_s"] / \
        dense_lr["onednn_channels_last_gmacs_per_s"]
    # The rate the target needs: the same MACs in 0.77x the time.
    fp32 = model["fp32 (as built)"]
    need = fp32["achieved_gmacs_per_s"] / TARGET_RATIO
    best_conv = max(r["onednn_channels_last_gmacs_per_s"] for r in convs)
    target = {"ratio": TARGET_RATIO, "needed_gmacs_per_s": need,
              "needed_over_best_dense_conv": need / best_conv, "needed_over_sgemm": need / sgemm}
    result = {"command": "python benchmarks/conv_ceiling.py " + " ".join(argv or sys.argv[1:]),
              "threads": args.threads, "repeats": args.repeats, "allocator": allocator,
              "mkl_sgemm_4096_gmacs_per_s": sgemm, "conv_64x64_3x3": convs,
              "dsrnet_s_lr_112x80": model, "target_at_fp32": target,
              "versions": {"torch": torch.__version__, "python": platform.python_version()},
              "note": "timings on a machine shared with other work are noise"}
    atomic.write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"MKL sgemm: {sgemm:.0f} GMAC/s ({args.threads} threads)")
    for r in convs:
        print(f"conv {r['size_hw'][1]}x{r['size_hw'][0]}: oneDNN NHWC "
              f"{r['onednn_channels_last_gmacs_per_s']:.0f} / NCHW "
              f"{r['onednn_nchw_gmacs_per_s']:.0f} GMAC/s; Winograd x"
              f"{r['nnpack_winograd_time_ratio']:.2f}, err {r['max_abs_vs_float64']}")
    for k, r in model.items():
        print(f"dsrnet-s {k}: {r['median_s']:.3f} s x{r['ratio']:.3f} max abs {r['max_abs']:.1e}")
    print(f"fp32 forward: {fp32['gmacs']:.1f} GMACs at {fp32['achieved_gmacs_per_s']:.0f} GMAC/s "
          f"({fp32['ratio_to_dense_conv_at_lr_size']:.2f} of the dense conv at the LR size); "
          f"x{TARGET_RATIO} needs {need:.0f} GMAC/s = {need / best_conv:.2f}x the best dense "
          f"conv, {need / sgemm:.2f}x sgemm")
    print(f"-> {args.out}")
    return result


if __name__ == "__main__":
    main()
