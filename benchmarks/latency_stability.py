"""Is `bench cost`'s latency a number you can quote? Run it several times back to back, each
in a fresh process (as a user would), and compare the medians.

    python benchmarks/latency_stability.py --backend edsr [--times 3] [--out stability.json]

Each run is `bench cost --backend B --lr-size S --json` into a throw-away store (the user's
leaderboard is not touched). Prints every run's median, IQR, repeats and threads, and the
spread of the medians as max/min − 1; the acceptance bound of issue 14 is 15% on a quiet
machine. Exit 1 when the spread exceeds `--bound`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="edsr")
    ap.add_argument("--lr-size", default="128x128", help="WIDTHxHEIGHT")
    ap.add_argument("--times", type=int, default=3, help="fresh `bench cost` processes")
    ap.add_argument("--bound", type=float, default=0.15, help="allowed max/min - 1 of medians")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    bench = shutil.which("bench", path=str(Path(sys.executable).parent)) or shutil.which("bench")
    if bench is None:
        sys.exit("no `bench` script next to this interpreter or on PATH: pip install -e .")
    runs = []
    with tempfile.TemporaryDirectory(prefix="latency-stability-") as store:
        for i in range(args.times):
            proc = subprocess.run([bench, "cost", "--backend", args.backend, "--lr-size",
                                   args.lr_size, "--out", store, "--json"],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"run {i + 1}: bench cost failed: {proc.stderr.strip()[-500:]}")
            r = json.loads(proc.stdout)
            runs.append({k: r[k] for k in ("latency_ms", "latency_q1_ms", "latency_q3_ms",
                                           "latency_min_ms", "latency_max_ms",
                                           "latency_repeats", "latency_warmup", "threads",
                                           "device", "precision")})
            print(f"run {i + 1}: median {r['latency_ms']:.1f} ms, IQR {r['latency_q1_ms']:.1f}–"
                  f"{r['latency_q3_ms']:.1f} ms, {r['latency_repeats']} repeats after "
                  f"{r['latency_warmup']} warm-up calls, {r['threads']} thread(s), "
                  f"{r['device']}, {r['precision']}")
    medians = [r["latency_ms"] for r in runs]
    spread = max(medians) / min(medians) - 1
    print(f"{args.backend} at LR {args.lr_size}: medians {', '.join(f'{m:.1f}' for m in medians)}"
          f" ms; spread max/min - 1 = {100 * spread:.1f}% (bound {100 * args.bound:.0f}%)")
    if args.out:
        args.out.write_text(json.dumps({"backend": args.backend, "lr_size": args.lr_size,
                                        "runs": runs, "spread": spread}, indent=2) + "\n")
    return 0 if spread <= args.bound else 1


if __name__ == "__main__":
    sys.exit(main())
