"""One evaluator protocol (reset/update/compute/state) and its replay from the stored state:
the replay of the whole split equals compute(), and a resampled multiset of images equals the
library computation on that multiset (confusion matrix, Counts, pycocotools COCOeval)."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.classification.metrics import ClassificationEvaluator, evaluate_scores
from tasks.detection.metrics import DetectionEvaluator, coco_per_class_ap, _record
from tasks.segmentation.metrics import ConfusionMatrix, SegmentationEvaluator, metric_rows

CLASSES = ["JO", "IL", "IN"]


def _resamples(rng, n, b=8):
    w = np.zeros((b, n), np.int64)
    for row in w:
        np.add.at(row, rng.integers(0, n, n), 1)
    return w


def _as_dict(rows):
    return {(r.cls, r.metric): r.value for r in rows}


def _replayed(replay, w):
    v = replay.values(np.atleast_2d(w))
    return [{k: x for k, x in zip(replay.keys, row) if not np.isnan(x)} for row in v]


def _same(a: dict, b: dict, tol=0.0):
    a = {k: v for k, v in a.items() if not np.isnan(v)}
    b = {k: v for k, v in b.items() if not np.isnan(v)}
    assert a.keys() == b.keys()
    for k in a:
        assert abs(a[k] - b[k]) <= tol, (k, a[k], b[k])


# ---------------------------------------------------------------------------- segmentation
def _seg_data(rng, n=12):
    preds = [rng.integers(0, 4, (9, 11)) for _ in range(n)]
    targets = [rng.choice([0, 0, 1, 2, 255], (9, 11)) for _ in range(n)]
    targets[3][:] = 3  # class IN only in image 3
    return preds, targets


def test_segmentation_evaluator_matches_confusion_matrix_and_resamples():
    rng = np.random.default_rng(0)
    preds, targets = _seg_data(rng)
    ev = SegmentationEvaluator(CLASSES)
    ev.update(preds[:5], targets[:5])
    ev.update(preds[5:], targets[5:])
    cm = ConfusionMatrix(4)
    for p, t in zip(preds, targets):
        cm.update(p, t)
    assert _as_dict(ev.compute()) == _as_dict(metric_rows(cm.compute(), CLASSES))
    state = ev.state()
    assert state["counts"].shape == (12, 4, 3) and list(state["image_ids"]) == [str(i) for i in range(12)]
    replay = SegmentationEvaluator.replay(state, CLASSES)
    _same(_replayed(replay, np.ones(12))[0], _as_dict(ev.compute()))
    for w in _resamples(rng, 12):
        ref = ConfusionMatrix(4)
        for i in np.repeat(np.arange(12), w):
            ref.update(preds[i], targets[i])
        _same(_replayed(replay, w)[0], _as_dict(metric_rows(ref.compute(), CLASSES)))
    assert replay.instances()["IN"] == 1
    ev.reset()
    assert ev.state()["counts"].shape == (0, 4, 3)


# ---------------------------------------------------------------------------- classification
def test_classification_evaluator_matches_counts_and_resamples():
    rng = np.random.default_rng(1)
    classes = ["RB", "OB", "PF", "DE"]  # Sewer-ML codes: F2-CIW is reported
    scores = rng.random((30, 4))
    labels = (rng.random((30, 4)) < 0.3).astype(int)
    ev = ClassificationEvaluator(classes)
    ev.update(scores[:16], labels[:16])
    ev.update(scores[16:], labels[16:])
    assert _as_dict(ev.compute()) == _as_dict(evaluate_scores(scores, labels, classes))
    replay = ClassificationEvaluator.replay(ev.state(), classes)
    _same(_replayed(replay, np.ones(30))[0], _as_dict(ev.compute()), 1e-15)
    for w in _resamples(rng, 30):
        idx = np.repeat(np.arange(30), w)
        _same(_replayed(replay, w)[0], _as_dict(evaluate_scores(scores[idx], labels[idx], classes)),
              1e-12)
    assert replay.instances() == {c: int(n) for c, n in zip(classes, labels.sum(0))}


# ---------------------------------------------------------------------------- detection
def _det_data(rng, n=10, ties=False):
    dets, truth = [], []
    for i in range(n):
        g = rng.integers(0, 4)
        xy = rng.uniform(0, 80, (g, 2))
        gt = np.hstack([xy, xy + rng.uniform(5, 30, (g, 2))])
        gl = rng.integers(1, 4, g)
        if i == 2:
            gt, gl = np.zeros((0, 4)), np.zeros(0, int)
        d = rng.integers(0, 6)
        jitter = np.vstack([gt, np.hstack([rng.uniform(0, 80, (d, 2))] * 2) + [0, 0, 20, 20]])
        boxes = jitter + rng.normal(0, 3, jitter.shape)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        scores = rng.random(len(boxes))
        if ties:
            scores = np.round(scores * 3) / 3  # many equal scores, also within one image
        labels = np.concatenate([gl, rng.integers(1, 4, d)])
        if rng.random() < 0.3 and len(labels):
            labels[0] = labels[0] % 3 + 1  # a wrong class
        dets.append((boxes, scores, labels))
        truth.append(((100, 120), gt, gl))
    return dets, truth


def _coco_on(dets, truth, order):
    """COCOeval over the images listed in `order` (duplicates = distinct images 1..M)."""
    images, gts, dts = [], [], []
    for new, i in enumerate(order, start=1):
        images.append({"id": new, "height": 100, "width": 120})
        for box, lab in zip(truth[i][1], truth[i][2]):
            gts.append(_record(len(gts) + 1, new, box, int(lab)))
        for box, s, lab in zip(*dets[i]):
            r = _record(len(dts) + 1, new, box, int(lab))
            r["score"] = float(s)
            dts.append(r)
    per = coco_per_class_ap(images, gts, dts, 3)
    out = {}
    for metric, j in (("ap50", 0), ("ap", 1)):
        for k, v in per.items():
            out[(CLASSES[k - 1], metric)] = v[j]
        if per:
            out[("Mean", metric)] = float(np.mean([v[j] for v in per.values()]))
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_detection_replay_equals_cocoeval_on_resamples(ties):
    rng = np.random.default_rng(2 + ties)
    dets, truth = _det_data(rng, ties=ties)
    ev = DetectionEvaluator(CLASSES)
    ev.update(dets[:4], truth[:4])
    ev.update(dets[4:], truth[4:])
    full = _as_dict(ev.compute())
    _same(full, _coco_on(dets, truth, range(10)))
    replay = DetectionEvaluator.replay(ev.state(), CLASSES)
    assert any(c.ties for c in replay.per_class.values()) == ties
    _same(_replayed(replay, np.ones(10))[0], full, 1e-9)
    ws = _resamples(rng, 10, 12)
    ws[0] = [3, 0, 0, 2, 0, 1, 0, 4, 0, 0]  # heavy duplicates
    got = _replayed(replay, ws)
    for w, g in zip(ws, got):
        _same(g, _coco_on(dets, truth, np.repeat(np.arange(10), w)), 1e-9)
    assert sum(replay.instances().values()) == sum(len(t[2]) for t in truth)
