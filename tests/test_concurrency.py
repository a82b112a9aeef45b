"""Two processes, one cache: per-key locks make the second wait for the first and reuse its
result (bench/locks.py). Real processes, started together, smoke profile."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _together(args: list[str], env: dict[str, str]) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen([sys.executable, "-m", "bench.cli", *args], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def test_two_train_sr_on_one_cache_train_once(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "SEWER_BENCH_CACHE": str(cache)}
    # a checkpoint every 2 iterations: the old fixed-name last.pt.tmp crashed one of the two
    args = ["train-sr", "--backend", "edsr", "--profile", "smoke", "--set",
            "sr.train.val_every=2", "--set", "sr.train.log_every=2", "--json"]
    a, b = _together(args, env)
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["weights"] == rb["weights"]
    weights = Path(ra["weights"])
    assert ra["best_val_psnr_y"] == rb["best_val_psnr_y"]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(Path(rb["weights"]).read_bytes()).hexdigest()
    work = Path(ra["train_dir"])
    log = pd.read_csv(work / "log.csv")
    assert not log["iteration"].duplicated().any()
    assert list(log["iteration"]) == list(range(2, 21, 2))  # 20 iterations, a row every 2
    # one training: one TensorBoard event file (each training process starts its own)
    events = list((work / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1, events
    assert not list(cache.rglob(".tmp-*"))


def test_two_runs_of_one_command_compute_each_cell_once(tmp_path):
    env = {**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / "cache")}
    args = ["run", "--profile", "smoke", "--model", "fcn", "--out", str(tmp_path / "out"),
            "--json"]
    a, b = _together(args, env)
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["tables"] == rb["tables"]
    sa, sb = ra["summary"], rb["summary"]
    assert sa["cells_computed"] + sb["cells_computed"] == 3
    assert sa["cache"].get("task_trained", 0) + sb["cache"].get("task_trained", 0) == 1
    (run_dir,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    frame = pd.concat(pd.read_csv(p) for p in (run_dir / "rows").glob("*.csv"))
    assert not frame.duplicated(["model", "variant", "cls", "metric", "seed"]).any()
