"""Plan -> execute: the dry run, and the Ray executor against the local one on a real local
Ray cluster (started by the run itself on this machine; never a remote one)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SMOKE = ("run", "--task", "segmentation", "--profile", "smoke", "--set", "threads=2")


def _rows(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "rows").glob("*.csv"))}


def _run_dir(result) -> Path:
    return Path(result["files"][0]).parents[1]


def test_dry_run_lists_cells_then_nothing(bench_json, tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))
    plan = bench_json(*SMOKE, "--out", str(tmp_path), "--dry-run")
    assert plan["cells_todo"] == 6 and plan["cells_done"] == 0 and plan["cells_total"] == 6
    assert {(g["model"], g["task_model"]) for g in plan["groups"]} == \
        {("fcn", "will be trained"), ("deeplabv3plus", "will be trained")}
    assert plan["sr_outputs"]["SR:bicubic"] == {"cached": 0, "to_compute": 4}
    assert plan["sr_backends"] == {"bicubic": "no weights needed"}
    assert not (tmp_path / plan["run"] / "rows").exists()  # a dry run computes nothing
    bench_json(*SMOKE, "--out", str(tmp_path))
    again = bench_json(*SMOKE, "--out", str(tmp_path), "--dry-run")
    assert again["cells_todo"] == 0 and again["groups"] == [] and again["cells_done"] == 6


@pytest.mark.slow
def test_ray_executor_equals_local_and_retries_a_killed_group(bench_json, tmp_path,
                                                               monkeypatch):
    pytest.importorskip("ray")  # the optional extra; .[dev] installs it, so CI runs this
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    local = bench_json(*SMOKE, "--out", str(tmp_path / "local"))
    assert local["summary"]["executor"] == "local"

    # Another cache: the Ray run must compute everything itself. The first group to start
    # SIGKILLs its worker process (the marker file says it happened); Ray retries it.
    marker = tmp_path / "killed-once"
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "ray-cache"))
    monkeypatch.setenv("SEWER_BENCH_KILL_GROUP_ONCE", str(marker))
    ray_run = bench_json(*SMOKE, "--out", str(tmp_path / "ray"), "--executor", "ray")
    assert marker.exists(), "the fault injection did not fire"
    assert int(marker.read_text()) != os.getpid()  # it killed a worker, not this driver
    s = ray_run["summary"]
    assert s["executor"] == "ray" and s["cells_computed"] == s["cells_total"] == 6
    assert s["cache"]["task_trained"] == 2
    assert _run_dir(ray_run).name == _run_dir(local).name
    assert _rows(_run_dir(ray_run)) == _rows(_run_dir(local))  # byte for byte, once each
    assert ray_run["tables"] == local["tables"]

    again = bench_json(*SMOKE, "--out", str(tmp_path / "ray"), "--executor", "ray")
    assert again["summary"]["cells_computed"] == 0  # a rerun schedules nothing
    assert _rows(_run_dir(again)) == _rows(_run_dir(local))
