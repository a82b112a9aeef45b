"""Sewer-ML's official metrics (tasks/classification/official.py) against an independent
implementation written here from the definition, and scikit-learn where it applies; the paper's
15-class Mean and the `task.mean_classes` config key."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score

from tasks.classification.metrics import CIW_WEIGHTS
from tasks.classification.official import (PAPER15, class_mean, evaluation, mean_class_indices,
                                           summary_values)

CODES = ["RB", "OB", "PF", "DE", "FS", "IS", "RO", "IN", "AF", "BE", "FO", "GR", "PH", "PB",
         "OS", "OP", "OK"]


def _reference(scores, targets, weights, threshold=0.5):
    """From Sewer-ML's definition, loop by loop: K classes + the implicit normal class; a
    predicted count of 0 is 1; P = Nc/Np, R = Nc/Ng; F from P and R, 0 where undefined;
    MF1 = mean F1 over the K + 1 entries; F2-CIW over the K classes."""
    n, k = scores.shape
    f1s, f2s = [], []
    for c in range(k + 1):
        if c < k:
            gt = [targets[i][c] == 1 for i in range(n)]
            pr = [scores[i][c] >= threshold for i in range(n)]
        else:
            gt = [not any(targets[i][j] == 1 for j in range(k)) for i in range(n)]
            pr = [not any(scores[i][j] >= threshold for j in range(k)) for i in range(n)]
        ng = sum(gt)
        npred = max(sum(pr), 1)
        nc = sum(1 for g, p in zip(gt, pr) if g and p)
        prec = nc / npred
        rec = nc / ng if ng else math.nan
        f1 = 2 * prec * rec / (prec + rec) if ng and prec + rec > 0 else 0.0
        f2 = 5 * prec * rec / (4 * prec + rec) if ng and 4 * prec + rec > 0 else 0.0
        f1s.append(f1)
        f2s.append(f2)
    ciw = sum(w * f for w, f in zip(weights, f2s[:k])) / sum(weights)
    return {"f1": f1s, "f2": f2s, "mf1": sum(f1s) / (k + 1), "ciw": ciw, "f1n": f1s[-1]}


def _case(rng, n, k):
    targets = (rng.random((n, k)) < rng.uniform(0.02, 0.3)).astype(np.int64)
    targets[:, rng.integers(0, k)] = 0          # a class the split never shows
    targets[rng.random(n) < 0.3] = 0            # normal images
    scores = rng.random((n, k)) ** rng.uniform(0.5, 3.0)
    scores[:, rng.integers(0, k)] = 0.1         # a class never predicted (Np = 0 -> 1)
    return scores, targets


@pytest.mark.parametrize("seed", range(12))
def test_official_metrics_equal_the_definition_and_sklearn(seed):
    rng = np.random.default_rng(seed)
    scores, targets = _case(rng, int(rng.integers(5, 80)), len(CODES))
    weights = [CIW_WEIGHTS[c] for c in CODES]
    ref = _reference(scores, targets, weights)
    got = evaluation(scores, targets, CODES)
    assert got.entries[-1] == "normal" and len(got.f1) == 18
    np.testing.assert_allclose(got.f1, ref["f1"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(got.f2, ref["f2"], atol=1e-9, rtol=0)
    assert got.mf1 == pytest.approx(ref["mf1"], abs=1e-9)
    assert got.f2_ciw == pytest.approx(ref["ciw"], abs=1e-9)
    assert got.f1_normal == pytest.approx(ref["f1n"], abs=1e-9)
    # scikit-learn on the K classes + the normal column, zero_division = 0
    pred = scores >= 0.5
    y = np.column_stack([targets == 1, ~(targets == 1).any(1)])
    yp = np.column_stack([pred, ~pred.any(1)])
    f1 = f1_score(y, yp, average=None, zero_division=0)
    f2 = fbeta_score(y, yp, beta=2, average=None, zero_division=0)
    np.testing.assert_allclose(got.f1, f1, atol=1e-9, rtol=0)
    np.testing.assert_allclose(got.f2, f2, atol=1e-9, rtol=0)
    assert got.mf1 == pytest.approx(f1_score(y, yp, average="macro", zero_division=0), abs=1e-9)
    # micro F1 differs from scikit-learn's exactly by the official "Np = 0 -> 1"
    np_fixed = np.maximum(yp.sum(0), 1)
    assert got.micro_f1 == pytest.approx(2 * (y & yp).sum() / (np_fixed.sum() + y.sum()),
                                         abs=1e-9)
    if (yp.sum(0) > 0).all():
        assert got.micro_f1 == pytest.approx(f1_score(y, yp, average="micro"), abs=1e-9)
    # the harness's own F2-CIW / F1-Normal agree with the official ones
    from tasks.classification.metrics import evaluate_scores

    rows = {(r.cls, r.metric): r.value for r in evaluate_scores(scores, targets, CODES)}
    assert rows[("F2-CIW", "f2_ciw")] == pytest.approx(got.f2_ciw, abs=1e-9)
    assert rows[("F1-Normal", "f1_normal")] == pytest.approx(got.f1_normal, abs=1e-9)


def test_official_edge_cases():
    # nothing predicted, nothing labelled: every image normal and predicted normal
    got = evaluation(np.zeros((3, 2)), np.zeros((3, 2)), ["RB", "OB"])
    assert got.np_.tolist() == [1.0, 1.0, 3.0] and np.isnan(got.recall[0])
    assert got.f1.tolist() == [0.0, 0.0, 1.0] and got.mf1 == pytest.approx(1 / 3)
    # targets of -1 (MultiLabelSoftMarginLoss) count as 0, as in the official code
    t = np.array([[1, -1], [-1, -1]])
    assert evaluation(np.array([[0.9, 0.1], [0.1, 0.1]]), t, ["RB", "OB"]).f1.tolist() == \
        [1.0, 0.0, 1.0]
    assert np.isnan(evaluation(np.zeros((2, 1)), np.zeros((2, 1)), ["crack"]).f2_ciw)
    with pytest.raises(ValueError, match="class names"):
        evaluation(np.zeros((2, 2)), np.zeros((2, 2)), ["RB"])


def test_paper_mean_is_over_its_15_classes():
    assert len(PAPER15) == 15 and "PB" not in PAPER15 and "OS" not in PAPER15
    assert set(PAPER15) < set(CIW_WEIGHTS)
    assert [CODES[k] for k in mean_class_indices(CODES, "paper15")] == \
        [c for c in CODES if c not in ("PB", "OS")]
    values = np.arange(17, dtype=float)
    present = np.ones(17, bool)
    present[0] = False                           # RB has no positive: left out of both means
    assert class_mean(values, CODES, present, "all") == pytest.approx(values[1:].mean())
    keep = [k for k, c in enumerate(CODES) if c in PAPER15 and k != 0]
    assert class_mean(values, CODES, present, "paper15") == pytest.approx(values[keep].mean())
    with pytest.raises(ValueError, match="mean_classes"):
        mean_class_indices(CODES, "paper17")


def test_summary_values_rows():
    rng = np.random.default_rng(5)
    scores, targets = _case(rng, 60, 17)
    plain = summary_values(scores, targets, CODES, "all")
    assert ("Mean (15)", "f1") not in plain and ("MF1", "f1") in plain
    both = summary_values(scores, targets, CODES, "paper15")
    rows = {(r.cls, r.metric): r.value for r in
            __import__("tasks.classification.metrics", fromlist=["x"]).evaluate_scores(
                scores, targets, CODES)}
    assert both[("Mean", "f1")] == pytest.approx(rows[("Mean", "f1")], abs=1e-12)
    f1 = np.array([rows[(c, "f1")] for c in CODES])
    present = targets.sum(0) > 0
    keep = [k for k, c in enumerate(CODES) if c in PAPER15 and present[k]]
    assert both[("Mean (15)", "f1")] == pytest.approx(f1[keep].mean(), abs=1e-12)
    assert both[("MF1", "f1")] == pytest.approx(evaluation(scores, targets, CODES).mf1)


def test_mean_classes_config_key_is_validated():
    from bench.config import load_config
    from bench.errors import ConfigError

    cfg = load_config("smoke", overrides=["task.name=classification",
                                          "task.mean_classes=paper15"])
    assert cfg.task.mean_classes == "paper15"
    base = load_config("smoke", overrides=["task.name=classification"])
    assert base.task.mean_classes == "all" and base.fingerprint() != cfg.fingerprint()
    with pytest.raises(ConfigError, match="mean_classes"):
        load_config("smoke", overrides=["task.mean_classes=paper17"])


def test_from_counts_equals_the_score_path():
    from tasks.classification.official import from_counts, summary_from_metrics

    rng = np.random.default_rng(9)
    scores, targets = _case(rng, 50, 17)
    pred = scores >= 0.5
    gt = targets == 1
    pred = np.column_stack([pred, ~pred.any(1)])
    gt = np.column_stack([gt, ~gt.any(1)])
    tp, fp, fn = (pred & gt).sum(0), (pred & ~gt).sum(0), (~pred & gt).sum(0)
    a, b = from_counts(tp, fp, fn, CODES), evaluation(scores, targets, CODES)
    assert a.mf1 == b.mf1 and a.f2_ciw == b.f2_ciw and np.array_equal(a.f1, b.f1)
    assert summary_from_metrics(a, CODES, "paper15") == summary_values(scores, targets, CODES,
                                                                        "paper15")
    with pytest.raises(ValueError, match="K \\+ 1"):
        from_counts(tp[:-1], fp[:-1], fn[:-1], CODES)
