"""DSRNet performance: matching growth, forward speed vs the dense-conv ceiling, memory.

    python benchmarks/bench_dsrnet.py [--what matching,backend,memory,cost]
        [--variants dsrnet-plus,dsrnet-s] [--repeats 5] [--threads 2] [--default-malloc]

Prints one JSON document. `backend` rows: latency (median), MACs, achieved GMAC/s and its ratio
to a dense 3x3 64->64 conv at the LR size, with and without the depth U-Net (the targets are
about "without_unet", as the authors' timing reads depth from files), plus the student /
teacher latency ratio when both are run. `memory`: peak RSS of a forward at LR 448x320 /
Ref 1792x1280 (target: fits in 12 GB). `cost`: params and MACs at LR 128x128 / Ref 512x512.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

# The same network fed with depth (the authors' timing reads depth from files: the targets'
# row), and with the depth U-Net predicting it (depth_source="predicted", the default).
PERF_ROWS = {"without_unet": {"depth_source": "gt"}, "with_unet": {"depth_source": "predicted"}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--what", default="matching,backend,memory,cost")
    p.add_argument("--variants", default="dsrnet-plus,dsrnet-s")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--default-malloc", action="store_true",
                   help="time with glibc's default allocator settings (see bench/allocator.py)")
    args = p.parse_args(argv)
    from bench.perf import backend_perf, peak_memory, probe_perf
    from sr_backends.dsrnet.cost import dsrnet_cost_report
    from sr_backends.dsrnet.matching import perf_probe

    what, variants = args.what.split(","), args.variants.split(",")
    out: dict[str, Any] = {}
    if "cost" in what:
        out["cost"] = {v: dsrnet_cost_report(v) for v in variants}
    if "matching" in what:
        out["matching"] = probe_perf(perf_probe, repeats=max(3, args.repeats),
                                     threads=args.threads)
    if "backend" in what:
        rows = {v: backend_perf(v, repeats=args.repeats, threads=args.threads, memory=False,
                                tuned_malloc=not args.default_malloc, rows=PERF_ROWS)
                for v in variants}
        out["backend"] = rows
        if {"dsrnet-plus", "dsrnet-s"} <= rows.keys():
            t, s = rows["dsrnet-plus"], rows["dsrnet-s"]
            out["student_over_teacher_latency"] = {
                k: s[k]["latency_s"] / t[k]["latency_s"] for k in ("without_unet", "with_unet")
                if k in s and k in t}
    if "memory" in what:
        out["memory_lr448x320"] = {v: peak_memory(v, (320, 448), PERF_ROWS["without_unet"],
                                               args.threads) for v in variants}
    print(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
