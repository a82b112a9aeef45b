"""SIGTERM (what Slurm, Ray and `docker stop` send) leaves the same one-line note as Ctrl-C:
what is saved and the command that resumes; exit 143 (128 + 15); the rerun resumes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ARGS = ["run", "--profile", "smoke", "--model", "fcn", "--set", "data.n_train=4", "--set",
        "data.n_test=2"]


def test_sigterm_says_what_is_saved_and_how_to_resume(tmp_path: Path):
    args = [*ARGS, "--out", str(tmp_path / "out")]
    env = {**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen = []
    for line in proc.stderr:  # terminate once the work has started
        seen.append(line)
        if "cells to compute" in line:
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=600)
    assert proc.returncode == 143, "".join(seen) + rest
    lines = [ln for ln in rest.splitlines() if ln.strip() and not ln.startswith("  ")]
    assert len(lines) == 1, rest
    assert lines[0].startswith("interrupted by SIGTERM: 0/3 cells of run"), rest
    assert "resume with: bench run --profile smoke --model fcn" in lines[0]
    assert "Traceback" not in rest

    again = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--json"], text=True,
                           capture_output=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["cells_total"] == 3
