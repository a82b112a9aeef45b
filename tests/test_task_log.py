"""Visible training: a task model's training writes log.csv (+ TensorBoard) beside its cached
model and prints that folder once; SR training prints its log folder once too."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from bench.training.task_log import TaskTrainLog, log_dir


def test_log_rows_follow_the_progress_calls(tmp_path, capsys):
    model_dir = tmp_path / "task" / "abc"
    tlog = TaskTrainLog(model_dir, "segmentation/fcn (fcn seed 0 trained on HR)",
                        tensorboard=False)
    for step, text in [(1, "loss 2.5"), (2, "loss 1e-3"), (3, "epoch 2/5, rate 3"), (4, "loss nan")]:
        tlog.step(step, 4, text)
    tlog.close()
    err = capsys.readouterr().err
    assert err.count(str(log_dir(model_dir))) == 1 and "log.csv" in err
    frame = pd.read_csv(log_dir(model_dir) / "log.csv")
    assert list(frame.columns) == ["step", "total", "loss", "note", "elapsed"]
    assert frame["step"].tolist() == [1, 2, 3, 4] and (frame["total"] == 4).all()
    assert frame["loss"][0] == 2.5 and frame["loss"][1] == pytest.approx(1e-3)
    assert pd.isna(frame["loss"][2]) and frame["note"][2] == "epoch 2/5; rate 3"
    assert not model_dir.exists()  # the model's own folder is left to its atomic publication


@pytest.mark.slow
def test_run_writes_and_names_the_task_model_log(bench_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))
    code, _, err = bench_cli("run", "--profile", "smoke", "--model", "fcn", "--out",
                             str(tmp_path / "out"))
    assert code == 0, err
    (folder,) = (tmp_path / "cache" / "task").glob("*-log")
    assert err.count(f"logs in {folder}") == 1
    frame = pd.read_csv(folder / "log.csv")
    assert len(frame) >= 1 and frame["loss"].notna().all()
    assert (folder / "tb").is_dir() and any((folder / "tb").iterdir())
    assert (folder.parent / folder.name[:-len("-log")]).is_dir()  # beside the cached model
