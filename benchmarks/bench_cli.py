"""`bench ... --json` as a subprocess for the benchmark scripts: parsed stdout, or exit with
the command and the tail of its stderr."""
from __future__ import annotations

import json
import subprocess
import sys


def bench(*args: str) -> dict:
    cmd = [sys.executable, "-m", "bench.cli", *args, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)
