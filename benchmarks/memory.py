"""Bounded memory: peak RSS and wall time of `bench run --profile smoke` as the test split grows.

Each size runs as a fresh subprocess with its own empty cache and output folder (so the time
includes generating SynthSewer and training the tiny task models); the peak RSS of that
process comes from `os.wait4`. The target: peak RSS at the largest size within 1.25x of the
smallest (the harness streams the split: lazy dataset, lazy variants, a data loader).

    python benchmarks/memory.py [--sizes 100,1000] [--task segmentation] [--out memory.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def bench_script() -> str:
    found = shutil.which("bench", path=str(Path(sys.executable).parent)) or shutil.which("bench")
    if found is None:
        sys.exit("no `bench` script next to this interpreter or on PATH: pip install -e .")
    return found


def run_once(task: str, n_test: int, work: Path) -> dict[str, Any]:
    """One cold `bench run` at n_test test images: peak RSS (MiB) and wall time (s)."""
    cache, out = work / f"cache-{n_test}", work / f"runs-{n_test}"
    env = {**os.environ, "SEWER_BENCH_CACHE": str(cache), "RAY_USAGE_STATS_ENABLED": "0"}
    argv = [bench_script(), "run", "--task", task, "--profile", "smoke",
            "--set", f"data.n_test={n_test}", "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {proc.returncode}:\n{err.decode()[-2000:]}")
    return {"n_test": n_test, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
            "wall_s": round(wall, 1), "command": " ".join(argv[1:])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000", help="comma-separated test-split sizes")
    ap.add_argument("--task", default="segmentation")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="sewer-memory-") as tmp:
        rows = [run_once(args.task, n, Path(tmp)) for n in sizes]
    base = rows[0]
    for r in rows:
        r["rss_ratio"] = round(r["peak_rss_mib"] / base["peak_rss_mib"], 3)
        r["time_ratio"] = round(r["wall_s"] / base["wall_s"], 2)
    print(f"{'n_test':>7}  {'peak RSS MiB':>12}  {'ratio':>6}  {'wall s':>7}  {'ratio':>6}")
    for r in rows:
        print(f"{r['n_test']:>7}  {r['peak_rss_mib']:>12.1f}  {r['rss_ratio']:>6.3f}  "
              f"{r['wall_s']:>7.1f}  {r['time_ratio']:>6.2f}")
    cmd = " ".join(["python", "benchmarks/memory.py", *(sys.argv[1:] if argv is None else argv)])
    result = {"produced_by": cmd, "task": args.task, "target": "peak RSS at the largest size <= 1.25x the smallest",
              "met": rows[-1]["rss_ratio"] <= 1.25, "python": sys.version.split()[0],
              "machine": platform.machine(), "cpus": os.cpu_count(), "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
