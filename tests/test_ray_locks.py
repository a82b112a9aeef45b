"""Ray runs are as safe as local ones: two concurrent `--executor ray` runs of one command on
one store lock their groups and compute each cell once (each on its own local Ray cluster)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_two_ray_runs_compute_each_cell_once(tmp_path):
    pytest.importorskip("ray")
    env = {**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / "cache"),
           "RAY_USAGE_STATS_ENABLED": "0"}
    args = ["run", "--profile", "smoke", "--model", "fcn", "--executor", "ray", "--set",
            "threads=1", "--out", str(tmp_path / "out"), "--json"]
    procs = [subprocess.Popen([sys.executable, "-m", "bench.cli", *args], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    done = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, done):
        assert p.returncode == 0, err
    ra, rb = (json.loads(out) for out, _ in done)
    assert ra["tables"] == rb["tables"]
    assert ra["summary"]["cells_computed"] + rb["summary"]["cells_computed"] == 3
    (run_dir,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    frame = pd.concat(pd.read_csv(p) for p in (run_dir / "rows").glob("*.csv"))
    assert not frame.duplicated(["model", "variant", "cls", "metric", "seed"]).any()
