"""Detection: per-class AP against pycocotools on hand-built cases, the detectors' contracts,
and `bench run --task detection` end to end (offline, resumable, real formats)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks.detection.metrics import DetectionAccumulator

SMOKE = ("--task", "detection", "--profile", "smoke")


def _acc(images, num_classes=3):
    """images: list of (gt_boxes, gt_labels, det_boxes, det_scores, det_labels)."""
    acc = DetectionAccumulator(num_classes)
    for g, gl, d, ds, dl in images:
        acc.add((100, 120), np.array(g, float).reshape(-1, 4), np.array(gl, int),
                np.array(d, float).reshape(-1, 4), np.array(ds, float), np.array(dl, int))
    return acc


def test_perfect_detections_score_one():
    box = [[10, 10, 40, 50], [60, 20, 90, 70]]
    acc = _acc([(box, [1, 2], box, [0.9, 0.8], [1, 2]), (box[:1], [2], box[:1], [0.7], [2])])
    per = acc.per_class_ap()  # pycocotools: precision = tp / (tp + fp + eps)
    assert set(per) == {1, 2} and np.allclose(list(per.values()), 1.0, rtol=0, atol=1e-12)


def test_false_positive_above_true_positive_halves_precision():
    # One ground truth; a false positive (no overlap) scored above an exact hit: precision
    # 1/2 at recall 1, so every interpolated point is 0.5 -> AP = 0.5 at every IoU threshold.
    acc = _acc([([[10, 10, 40, 50]], [1], [[70, 60, 90, 90], [10, 10, 40, 50]], [0.9, 0.8], [1, 1])])
    ap50, ap = acc.per_class_ap()[1]
    assert ap50 == pytest.approx(0.5, abs=1e-12) and ap == pytest.approx(0.5, abs=1e-12)


def test_class_without_ground_truth_is_absent_and_missed_class_is_zero():
    acc = _acc([([[10, 10, 40, 50]], [1], [[10, 10, 40, 50], [50, 50, 80, 80]], [0.9, 0.9], [1, 3]),
                ([[5, 5, 30, 30]], [2], [], [], [])])
    per = acc.per_class_ap()
    assert set(per) == {1, 2}  # class 3: detections but no ground truth -> absent
    assert np.allclose(per[1], 1.0, rtol=0, atol=1e-12) and per[2] == (0.0, 0.0)  # class 2: never detected -> 0


def test_mean_equals_pycocotools_summarize_on_random_case():
    """Our per-class APs, averaged, equal COCOeval.summarize()'s stats through the standard
    loadRes path (JSON-style records) to 1e-9."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(0)
    images = []
    for _ in range(12):
        n = int(rng.integers(0, 5))
        xy = rng.uniform(0, 80, (n, 2))
        g = np.concatenate([xy, xy + rng.uniform(5, 30, (n, 2))], 1)
        gl = rng.integers(1, 4, n)
        jitter = g + rng.normal(0, 3, g.shape)
        fp = rng.uniform(0, 60, (3, 2))
        d = np.concatenate([jitter, np.concatenate([fp, fp + 15], 1)])
        dl = np.concatenate([gl, rng.integers(1, 4, 3)])
        images.append((g, gl, d, rng.uniform(0, 1, len(d)), dl))
    acc = _acc(images)
    per = acc.per_class_ap()
    gt = COCO()
    gt.dataset = {"images": acc.images, "annotations": acc.gts,
                  "categories": [{"id": k} for k in (1, 2, 3)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes([{k: v for k, v in d.items() if k in ("image_id", "category_id", "bbox", "score")}
                         for d in acc.dets])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert np.mean([v[1] for v in per.values()]) == pytest.approx(ev.stats[0], abs=1e-9)
    assert np.mean([v[0] for v in per.values()]) == pytest.approx(ev.stats[1], abs=1e-9)


@pytest.fixture(scope="module")
def tiny_pipe():
    from bench.datasets.synthsewer import SynthSewerPipe

    ds = SynthSewerPipe(seed=0, n_train=6, n_val=0, n_test=3)
    return ds, list(ds.split("train")), list(ds.split("test"))


@pytest.mark.parametrize("model", ["ssd", "yolov5s"])
def test_detector_fit_save_load_detect(model, tiny_pipe, tmp_path, one_thread):
    from tasks import TASK_MODELS
    from tasks.base import FitConfig

    ds, train, test = tiny_pipe
    cls = TASK_MODELS.get(f"detection/{model}")
    assert cls.describe("tiny") and cls.describe("full") != cls.describe("tiny")
    cfg = FitConfig(epochs=1, batch_size=3, lr=1e-3, image_size=64, size="tiny", seed=0)
    m = cls()
    steps = []
    m.fit([s.hr for s in train], [s.target for s in train], ds.classes, cfg,
          progress=lambda i, n, text: steps.append((i, n)))
    assert steps and steps[-1][0] == steps[-1][1]
    images = [s.hr for s in test]
    before = m.detect(images)
    for boxes, scores, labels in before:
        assert boxes.shape[1:] == (4,) and len(boxes) == len(scores) == len(labels) <= 100
        assert ((labels >= 1) & (labels <= len(ds.classes))).all() and (scores >= 0.001).all()
    m.save(tmp_path / "m")
    again = cls()
    again.load(tmp_path / "m", device="cpu")
    for (b1, s1, l1), (b2, s2, l2) in zip(before, again.detect(images)):
        np.testing.assert_allclose(b1, b2, atol=1e-4)
        np.testing.assert_array_equal(l1, l2)
    rows = again.evaluate(images, [s.target for s in test], ds.classes)
    assert {r.metric for r in rows} == {"ap50", "ap"}
    assert all(0.0 <= r.value <= 1.0 for r in rows)
    with pytest.raises(ValueError, match="trained on classes"):
        again.evaluate(images, [s.target for s in test], ["JO", "IL"])


def _refuse_sockets(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise ConnectionRefusedError("network disabled in this test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))


@pytest.mark.slow
def test_smoke_run_is_offline_leaves_cwd_alone_and_resumes(bench_cli, bench_json, tmp_path,
                                                             monkeypatch):
    _refuse_sockets(monkeypatch)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    first = bench_json("run", *SMOKE, "--out", str(tmp_path / "out"))
    assert list(work.iterdir()) == []  # no runs/, no settings, no fonts in the working directory
    assert set(first["tables"]) == {"yolov5s/ap50", "yolov5s/ap", "ssd/ap50", "ssd/ap"}
    assert first["summary"]["cells_computed"] == first["summary"]["cells_total"] == 2 * 3
    again = bench_json("run", *SMOKE, "--out", str(tmp_path / "out"))
    assert again["summary"]["cells_computed"] == 0
    # bench table / bench check work on a detection run unchanged
    run_dir = Path(first["files"][0]).parents[1]
    assert bench_json("table", "--run", str(run_dir))["tables"] == first["tables"]
    baseline = tmp_path / "baseline.csv"
    code, _, err = bench_cli("check", "--run", str(run_dir), "--baseline", str(baseline),
                             "--write-baseline")
    assert code == 0, err
    code, out, err = bench_cli("check", "--run", str(run_dir), "--baseline", str(baseline))
    assert code == 0 and "ok" in out and "compared" in out, (out, err)


def _rows(out: Path) -> dict:
    import pandas as pd

    frame = pd.concat(pd.read_csv(p) for p in out.glob("*/rows/*.csv"))
    return {(r.model, r.variant, r.cls, r.metric): r.value for r in frame.itertuples()}


@pytest.mark.slow
def test_pipe_folder_coco_and_yolo_give_the_generated_numbers(bench_json, tmp_path):
    import shutil

    data = tmp_path / "pipe"
    bench_json("synth", "--view", "pipe", "--out", str(data), "--n-train", "8", "--n-val", "2",
               "--n-test", "4")
    yolo_only = tmp_path / "pipe-yolo"
    shutil.copytree(data, yolo_only)
    shutil.rmtree(yolo_only / "annotations")  # boxes from labels/*.txt instead of COCO JSON
    one = ("--set", "task.models=[ssd]")
    bench_json("run", *SMOKE, *one, "--out", str(tmp_path / "gen"))
    bench_json("run", *SMOKE, *one, "--dataset", "pipe", "--data-root", str(data),
               "--out", str(tmp_path / "coco"))
    bench_json("run", *SMOKE, *one, "--dataset", "pipe", "--data-root", str(yolo_only),
               "--out", str(tmp_path / "yolo"))
    gen, coco, yolo = (_rows(tmp_path / d) for d in ("gen", "coco", "yolo"))
    assert gen and gen == coco == yolo


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_equals_uninterrupted(tmp_path):
    args = ["run", *SMOKE, "--json"]
    killed_env = {**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / "cache-a")}
    killed = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--out", str(tmp_path / "a")],
                            env={**killed_env, "SEWER_BENCH_KILL_AFTER_CELLS": "2"},
                            capture_output=True, text=True, timeout=900)
    assert killed.returncode == -signal.SIGKILL
    resumed = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--out", str(tmp_path / "a")],
                             env=killed_env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["summary"]["cells_computed"] == 4
    clean = subprocess.run([sys.executable, "-m", "bench.cli", *args, "--out", str(tmp_path / "b")],
                           env={**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / "cache-b")},
                           capture_output=True, text=True, timeout=900)
    assert clean.returncode == 0, clean.stderr
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")


def test_degenerate_coco_box_is_a_one_line_error(bench_cli, bench_json, tmp_path):
    data = tmp_path / "pipe"
    bench_json("synth", "--view", "pipe", "--out", str(data), "--n-train", "2", "--n-val", "1",
               "--n-test", "2", "--seed", "3")
    ann = data / "annotations" / "instances_test.json"
    coco = json.loads(ann.read_text())
    a = next(a for a in coco["annotations"])
    a["bbox"][2] = 0.0  # zero width
    ann.write_text(json.dumps(coco))
    code, out, err = bench_cli("run", *SMOKE, "--dataset", "pipe", "--data-root", str(data),
                               "--out", str(tmp_path / "out"))
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert "instances_test.json" in line and "degenerate box" in line and "Traceback" not in err


@pytest.mark.slow
def test_train_per_variant_protocol(bench_json, tmp_path):
    result = bench_json("run", *SMOKE, "--set", "task.models=[ssd]", "--set",
                        "task.protocol=train-per-variant", "--out", str(tmp_path / "out"))
    s = result["summary"]
    assert s["cells_computed"] == s["cells_total"] == 3  # one model per variant, tested on it
    c = s["cache"]  # the HR model may come from the session's cache (another test trained it)
    assert c.get("task_trained", 0) + c.get("task_hit", 0) == 3 and c.get("task_trained", 0) >= 2


@pytest.mark.slow
def test_ssd300_from_scratch_stays_finite_at_full_lr(tiny_pipe, one_thread):
    """SSD300-VGG (no BatchNorm) diverges to NaN from scratch without warmup and clipping;
    a few steps past the warmup at lr 0.01 must stay finite (fit raises on a non-finite loss)."""
    from tasks.base import FitConfig
    from tasks.detection.ssd import SSDModel

    ds, train, _ = tiny_pipe
    m = SSDModel()
    losses = []
    m.fit([s.hr for s in train[:4]], [s.target for s in train[:4]], ds.classes,
          FitConfig(epochs=3, batch_size=2, lr=1e-2, image_size=256, size="full", seed=0),
          progress=lambda i, n, text: losses.append(float(text.split()[-1])))
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert m.meta["image_size"] == 300  # SSD300 reads 300x300 whatever image_size says
