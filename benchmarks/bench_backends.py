"""Inference throughput of the SISR backends and how well their MACs turn into speed.

For each backend: images/s at batch 1 (random weights: weights do not change cost), MACs,
achieved GMAC/s, and that as a ratio to a dense 64->64 3x3 convolution measured in the same
run at the same LR size and thread count (the machine's practical ceiling for conv nets).
The ceiling is measured just before and just after each backend and the mean is used, so
drift in the load of a shared machine biases each row's ratio as little as possible.

    python benchmarks/bench_backends.py [--lr-size 64x64] [--repeats 3] [--threads N] [--json]

--lr-size is WIDTHxHEIGHT, as everywhere in the bench (bench.sizes.parse_size); the JSON's
"lr_size" is [height, width], like `bench cost --json`.

LR 64x64 by default because full ATD is slow on a CPU (it is ~3.5x RCAN's MACs).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DEFAULT_BACKENDS = ["edsr-baseline", "edsr", "rcan", "atd-light", "atd"]


def run(backends: list[str], lr_size: tuple[int, int], repeats: int, warmup: int,
        threads: int | None, device: str) -> dict[str, Any]:
    import torch

    from bench.cost import cost_report
    from bench.metrics.counting import achieved_ratio, dense_conv_gmacs_per_s, torch_threads

    def ceiling() -> float:
        return dense_conv_gmacs_per_s(64, lr_size, repeats=max(repeats, 3), warmup=warmup,
                                      device=device)

    rows = []
    with torch_threads(threads) as n_threads:
        for name in backends:
            # The ceiling is re-measured around each backend, so slow drift in the machine's
            # load (shared runners) biases a row's ratio as little as possible.
            before = ceiling()
            r = cost_report(name, lr_size=lr_size, device=device, latency_repeats=repeats,
                            latency_warmup=warmup)
            after = ceiling()
            rows.append((r, before, after))
            print(f"  measured {name}: {r['latency_ms']:.1f} ms", file=sys.stderr)
    table = []
    for r, before, after in rows:
        lat_s, ceil = r["latency_ms"] / 1e3, (before + after) / 2
        table.append({
            "backend": r["backend"], "params_m": r["params"] / 1e6, "gmacs": r["gmacs"],
            "latency_ms": r["latency_ms"], "latency_p90_ms": r["latency_p90_ms"],
            "images_per_s": 1.0 / lat_s, "achieved_gmacs_per_s": r["macs"] / lat_s / 1e9,
            "dense_conv_gmacs_per_s": ceil, "dense_conv_before_after": [before, after],
            "ratio_to_dense_conv": achieved_ratio(r["macs"], lat_s, ceil),
        })
    return {
        "lr_size": list(lr_size), "batch": 1, "device": device, "threads": n_threads,
        "precision": "fp32", "repeats": repeats, "warmup": warmup,
        "torch": torch.__version__,
        "rows": table,
    }


def format_table(result: dict[str, Any]) -> str:
    from bench.sizes import format_size

    lines = [
        f"LR {format_size(result['lr_size'])}, batch 1, {result['device']}, "
        f"{result['threads']} threads, {result['precision']}, median of {result['repeats']} "
        "warm repeats; ceiling = dense 3x3 conv 64->64 at the same size, measured just "
        "before and after each backend (mean used)",
        f"{'backend':<14}{'params M':>9}{'GMACs':>9}{'ms':>10}{'img/s':>9}"
        f"{'GMAC/s':>9}{'ceiling':>9}{'x conv':>8}",
    ]
    for r in result["rows"]:
        lines.append(f"{r['backend']:<14}{r['params_m']:>9.3f}{r['gmacs']:>9.2f}"
                     f"{r['latency_ms']:>10.1f}{r['images_per_s']:>9.2f}"
                     f"{r['achieved_gmacs_per_s']:>9.1f}{r['dense_conv_gmacs_per_s']:>9.1f}"
                     f"{r['ratio_to_dense_conv']:>8.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS)
    p.add_argument("--lr-size", default="64x64",
                   help="WIDTHxHEIGHT of the LR input (default 64x64)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    from bench.errors import BenchError
    from bench.sizes import parse_size

    try:
        lr_size = parse_size(args.lr_size, "--lr-size")
    except BenchError as e:
        p.error(str(e))
    result = run(args.backends, lr_size, args.repeats, args.warmup, args.threads, args.device)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
