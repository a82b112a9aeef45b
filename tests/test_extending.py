"""Extending is one module + one registry line: a toy SR backend and a toy task (spec + tiny
model), both defined in this test module and registered only by adding a line to each
registry, run through plan + execute on tiny synthetic data, with nothing else touched."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from bench.metrics import MetricInfo
from sr_backends.base import BackendSpec, SRBackend
from tasks.base import MetricRow, TaskModel, read_model_dir, save_model_dir
from tasks.spec import TaskSpec


# ---------------------------------------------------------------- the toy SR backend (module)
class NearestBackend(SRBackend):
    """Nearest-neighbour x`scale`: a backend with no weights."""

    def __init__(self, scale: int = 4):
        self.name, self.scale = "toy-nearest", scale

    def upscale(self, lr, ref=None, depth=None):
        return torch.nn.functional.interpolate(lr, scale_factor=self.scale, mode="nearest")

    def fingerprint(self) -> str:
        return f"toy-nearest-x{self.scale}"


TOY_BACKEND = BackendSpec(arch="toy-nearest", build=NearestBackend, kind="fixed")


# ---------------------------------------------------------------- the toy task (spec + model)
TOY_SPEC = TaskSpec(
    name="toy",
    description="per-class mean brightness, remembered from the training split",
    default_dataset="synthsewer-pipe",
    target="mask",
    metrics=(MetricInfo("brightness_err", "|test - train| mean brightness per class",
                        higher_is_better=False),),
    table_metrics=("brightness_err",),
)


class MeanBrightness(TaskModel):
    task, name = "toy", "mean"

    def __init__(self):
        self.means: np.ndarray | None = None

    @classmethod
    def describe(cls, size: str) -> str:
        return "per-class mean brightness (no network)"

    @staticmethod
    def _class_means(images, targets, n: int) -> np.ndarray:
        total, count = np.zeros(n), np.zeros(n)
        for img, t in zip(images, targets):
            gray = np.asarray(img, dtype=np.float64).mean(axis=2)
            for c in range(n):
                sel = t.mask == c
                total[c] += gray[sel].sum()
                count[c] += sel.sum()
        return total / np.maximum(count, 1)

    def fit(self, images, targets, classes, cfg, progress=None) -> None:
        self.means = self._class_means(images, targets, len(classes) + 1)

    def evaluate(self, images, targets, classes):
        err = np.abs(self._class_means(images, targets, len(classes) + 1) - self.means)
        rows = [MetricRow(c, "brightness_err", float(err[i + 1]), False)
                for i, c in enumerate(classes)]
        return rows + [MetricRow("Mean", "brightness_err", float(err[1:].mean()), False)]

    def save(self, directory) -> None:
        save_model_dir(directory, self.name, {"means": torch.tensor(self.means)},
                       {"model": self.name})

    def load(self, directory, device: str = "cpu") -> None:
        state, _ = read_model_dir(directory, self.name)
        self.means = state["means"].numpy()


# ---------------------------------------------------------------- the test
@pytest.fixture
def registered(monkeypatch):
    """One registry line each (undone after the test)."""
    from sr_backends import BACKENDS
    from tasks import TASK_MODELS, TASKS

    here = sys.modules[__name__].__name__
    for reg, name, target, text in [
            (BACKENDS, "toy-nearest", f"{here}:TOY_BACKEND", "nearest-neighbour x4 (a test)"),
            (TASKS, "toy", f"{here}:TOY_SPEC", "a toy task (a test)"),
            (TASK_MODELS, "toy/mean", f"{here}:MeanBrightness", "per-class mean (a test)")]:
        monkeypatch.setitem(reg._targets, name, target)
        monkeypatch.setitem(reg._descriptions, name, text)


def test_toy_backend_and_task_run_through_plan_and_execute(registered, tmp_path, monkeypatch):
    from bench.catalogue import metric_info
    from bench.config import BenchConfig
    from bench.report.delta import delta_tables
    from bench.runner import run_task

    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))
    cfg = BenchConfig.model_validate({
        "profile": "smoke", "out": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
        "threads": 1,
        "data": {"dataset": "synthsewer-pipe", "n_train": 2, "n_val": 1, "n_test": 2},
        "sr": {"backends": ["toy-nearest", "bicubic"]},
        "task": {"name": "toy", "models": ["mean"], "epochs": 1, "batch_size": 2}})
    store, summary = run_task(cfg, "cpu", progress=False)
    frame = store.load()
    assert summary.cells_computed == summary.cells_total == 4
    assert set(frame["variant"]) == {"HR", "LR", "SR:toy-nearest", "SR:bicubic"}
    assert set(frame["task"]) == {"toy"} and set(frame["metric"]) == {"brightness_err"}
    hr = frame[(frame["variant"] == "HR") & (frame["cls"] == "Mean")]["value"]
    assert len(hr) == 1 and np.isfinite(hr.iloc[0])
    # the catalogue and the Δ tables pick the task's metric (and its direction) up
    assert metric_info("brightness_err").higher_is_better is False
    manifest = json.loads((store.run_dir / "manifest.json").read_text())
    tables = delta_tables(frame, "toy", "brightness_err", classes=manifest["classes"],
                          backends=["toy-nearest", "bicubic"], summary_rows=("Mean",))
    assert len(tables) == 1
    # a rerun resumes: every cell stored, nothing computed
    _, again = run_task(cfg, "cpu", progress=False)
    assert again.cells_computed == 0
