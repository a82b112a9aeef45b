"""CLI start-up time: `bench --help` and `bench ls tasks` against `python -c "import torch"`.

Cheap commands must not import torch (tests/test_startup.py checks that); this measures what
that buys. Each command runs as a fresh subprocess with this interpreter's environment (the
venv's `bench` script next to `sys.executable`); the median of --repeats runs after one
untimed warm-up run (file-system cache).

    python benchmarks/startup.py [--repeats 5] [--out startup.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def commands() -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    bench = shutil.which("bench", path=str(bin_dir)) or shutil.which("bench")
    if bench is None:
        sys.exit("no `bench` script next to this interpreter or on PATH: pip install -e .")
    return {
        "bench --help": [bench, "--help"],
        "bench ls tasks": [bench, "ls", "tasks"],
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
    }


def time_once(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def measure(repeats: int) -> dict[str, Any]:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    rows = {}
    for name, argv in commands().items():
        time_once(argv, env)  # warm-up, untimed
        times = [time_once(argv, env) for _ in range(repeats)]
        rows[name] = {"median_s": round(statistics.median(times), 4),
                      "min_s": round(min(times), 4), "max_s": round(max(times), 4),
                      "runs_s": [round(t, 4) for t in times]}
    return {"repeats": repeats, "python": sys.version.split()[0], "executable": sys.executable,
            "machine": platform.machine(), "cpus": os.cpu_count(), "commands": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per command (median)")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    result = measure(args.repeats)
    width = max(len(n) for n in result["commands"])
    print(f"{'command':<{width}}  median s   min s   max s   (n={args.repeats})")
    for name, r in result["commands"].items():
        print(f"{name:<{width}}  {r['median_s']:8.3f}  {r['min_s']:6.3f}  {r['max_s']:6.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
