"""A task model is keyed by what it learns from: the train and val splits. Editing a test
mask re-evaluates (a new run: the run is keyed by all the data) but never retrains; editing a
training mask retrains."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.datasets.pipe import PipeDataset

pytestmark = pytest.mark.slow


def _edit_first_mask(root, split: str) -> None:
    victim = sorted((root / "masks" / split).glob("*.png"))[0]
    mask = np.asarray(Image.open(victim)).copy()
    mask[:8, :8] = 1 if mask[0, 0] != 1 else 0
    Image.fromarray(mask).save(victim)


def test_training_fingerprint_ignores_the_test_split(tmp_path):
    from bench.cli import main

    root = tmp_path / "pipe"
    assert main(["synth", "--view", "pipe", "--out", str(root), "--n-train", "2", "--n-val",
                 "1", "--n-test", "2", "--json"]) == 0
    before = PipeDataset(root)
    full, train = before.fingerprint(), before.training_fingerprint()
    _edit_first_mask(root, "test")
    after = PipeDataset(root)
    assert after.fingerprint() != full and after.training_fingerprint() == train
    _edit_first_mask(root, "val")
    assert PipeDataset(root).training_fingerprint() != train


def test_editing_a_test_mask_reevaluates_but_never_retrains(tmp_path, bench_json):
    root = tmp_path / "pipe"
    bench_json("synth", "--view", "pipe", "--out", str(root), "--n-train", "2", "--n-val",
               "1", "--n-test", "2")
    args = ["run", "--profile", "smoke", "--model", "fcn", "--dataset", "pipe", "--data-root",
            str(root), "--out", str(tmp_path / "out")]
    first = bench_json(*args)
    assert first["summary"]["cache"].get("task_trained", 0) == 1
    _edit_first_mask(root, "test")
    second = bench_json(*args)
    assert second["run"] != first["run"]  # other data: a new run, every cell evaluated
    assert second["summary"]["cells_computed"] == second["summary"]["cells_total"]
    assert second["summary"]["cache"].get("task_trained", 0) == 0
    assert second["summary"]["cache"].get("task_hit", 0) == 1
    _edit_first_mask(root, "train")
    third = bench_json(*args)
    assert third["summary"]["cache"].get("task_trained", 0) == 1
