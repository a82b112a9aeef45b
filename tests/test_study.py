"""`bench study`: one command for tasks x backends x seeds; a kill -9 mid-way and a rerun give
the uninterrupted study's CSVs byte for byte; a bad study is one line, exit 2."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["study", "--study", "smoke", "--profile", "smoke", "--set", "task.models=[fcn]",
        "--set", "data.n_train=4", "--set", "data.n_test=2", "--set", "seeds=[0,1]"]


def _bench(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=900,
                          env={**os.environ, "SEWER_BENCH_CACHE": str(cache), **env})


def _csvs(report: Path) -> dict[str, bytes]:
    return {p.relative_to(report).as_posix(): p.read_bytes()
            for p in sorted(report.rglob("*.csv"))}


def test_unknown_study_is_one_line_exit_2(bench_cli):
    code, _, err = bench_cli("study", "--study", "quik", "--profile", "smoke")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "quick" in err  # did-you-mean


def test_study_file_with_unknown_backend_is_one_line_exit_2(bench_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [segmentation]\nbackends: [bicubic, edsrr]\nseeds: [0]\n")
    code, _, err = bench_cli("study", "--study", str(bad), "--profile", "smoke")
    assert code == 2
    assert err.strip().count("\n") == 0 and "edsr" in err
    bad.write_text("tasks: [segmentation]\nbackends: [bicubic]\nseeds: []\n")
    code, _, err = bench_cli("study", "--study", str(bad), "--profile", "smoke")
    assert code == 2 and "seeds" in err and err.strip().count("\n") == 0


def test_study_models_are_checked_and_reach_the_task_part(bench_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    base = "tasks: [segmentation]\nbackends: [bicubic]\nseeds: [0]\n"
    bad.write_text(base + "models: {segmentation: [deeplab]}\n")
    code, _, err = bench_cli("study", "--study", str(bad), "--profile", "smoke")
    assert code == 2 and err.strip().count("\n") == 0
    assert "models.segmentation" in err and "deeplabv3plus" in err  # did-you-mean
    bad.write_text(base + "models: {detection: [yolov5s]}\n")
    code, _, err = bench_cli("study", "--study", str(bad), "--profile", "smoke")
    assert code == 2 and "not one of the study's tasks" in err
    from bench.commands.common import build_config
    from bench.study import load_study, task_config

    good = tmp_path / "good.yaml"
    good.write_text(base + "models: {segmentation: [deeplabv3plus]}\n")
    spec = load_study(str(good))

    def build(**part):
        return build_config(None, None, "smoke", tmp_path / "runs", **part)

    cfg = task_config(build(), spec, "segmentation", build)
    assert list(cfg.task.models) == ["deeplabv3plus"] and list(cfg.seeds) == [0]


@pytest.mark.slow
def test_study_killed_mid_way_resumes_to_identical_csvs(tmp_path):
    full = tmp_path / "full"
    done = _bench([*TINY, "--out", str(full / "out"), "--report", str(full / "report")],
                  full / "cache", SEWER_BENCH_COUNT_WRITES=str(tmp_path / "writes.txt"))
    assert done.returncode == 0, done.stderr
    report = full / "report"
    text = (report / "study.md").read_text()
    for part in ("Leaderboard", "Rank agreement", "Kendall", "segmentation: Δ tables",
                 "flops_psnr.png", "Does resolution matter"):
        assert part in text
    import pandas as pd

    rank = pd.read_csv(report / "rank_agreement.csv")
    (fcn,) = rank[rank["model"] == "fcn"].itertuples()
    assert fcn.n_backends == 2 and fcn.n_replicates > 0  # replicates from the stored states
    assert fcn.lo <= fcn.tau <= fcn.hi
    expected = _csvs(report)
    assert {"leaderboard.csv", "rank_agreement.csv", "resolution.csv",
            "tables/segmentation-fcn-iou.csv"} <= set(expected)
    (res,) = pd.read_csv(report / "resolution.csv").query("model == 'fcn'").itertuples()
    assert res.seeds == 2 and res.degradation == "x4" and res.lo <= res.loss <= res.hi
    writes = len((tmp_path / "writes.txt").read_text().splitlines())

    part = tmp_path / "part"
    args = [*TINY, "--out", str(part / "out"), "--report", str(part / "report")]
    killed = _bench(args, part / "cache", SEWER_BENCH_KILL_AT_WRITE=str(writes // 2))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _bench(args, part / "cache")
    assert resumed.returncode == 0, resumed.stderr
    assert _csvs(part / "report") == expected


@pytest.mark.slow
def test_study_under_ray_gives_the_local_studys_csvs(tmp_path):
    """The same study, each unit a Ray task on a local cluster the command starts itself, in a
    cache of its own: every CSV of the report (leaderboard, rank agreement, Δ tables) equals
    the local executor's byte for byte."""
    pytest.importorskip("ray")
    reports = {}
    for executor in ("local", "ray"):
        root = tmp_path / executor
        done = _bench([*TINY, "--executor", executor, "--out", str(root / "out"),
                       "--report", str(root / "report")], root / "cache",
                      RAY_USAGE_STATS_ENABLED="0")
        assert done.returncode == 0, done.stderr
        reports[executor] = _csvs(root / "report")
    assert "rank_agreement.csv" in reports["ray"]
    assert reports["ray"] == reports["local"]
