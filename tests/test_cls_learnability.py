"""benchmarks/cls_learnability.py's HR-vs-LR comparison: its weighted macro ROC-AUC equals
scikit-learn's on the resample spelled out (rows repeated), its point values equal the
classification metrics', and a loss that is there gets an interval that excludes 0."""
from __future__ import annotations


import numpy as np
from sklearn.metrics import roc_auc_score

from bench.stats.bootstrap import Settings
from tasks.classification.metrics import evaluate_scores
from conftest import benchmark_script

CLASSES = ["RB", "OB", "PF", "DE"]


def _script():
    return benchmark_script("cls_learnability")


def _truth(rng, n=60):
    truth = (rng.uniform(size=(n, len(CLASSES))) < 0.3).astype(np.uint8)
    truth[:2] = 1  # every class has a positive
    truth[2:4] = 0  # ... and a negative
    return truth


def test_weighted_macro_auc_is_sklearn_on_the_repeated_rows():
    mod = _script()
    rng = np.random.default_rng(0)
    truth = _truth(rng)
    scores = rng.uniform(size=truth.shape)
    w = rng.integers(0, 3, len(truth))
    w[:4] = 1
    rows = np.repeat(np.arange(len(truth)), w)
    expected = np.mean([roc_auc_score(truth[rows, k], scores[rows, k]) for k in range(4)])
    assert abs(mod.macro_auc(truth, scores, w.astype(float)) - expected) < 1e-12
    assert abs(mod.macro_auc(truth, scores)
               - np.mean([roc_auc_score(truth[:, k], scores[:, k]) for k in range(4)])) < 1e-12
    w_no_pos = np.where(truth[:, 0] > 0, 0, 1)  # class RB loses every positive
    assert np.isnan(mod.macro_auc(truth, scores, w_no_pos.astype(float)))


def test_hr_vs_lr_points_and_intervals():
    mod = _script()
    rng = np.random.default_rng(1)
    truth = _truth(rng)
    ids = np.array([str(i) for i in range(len(truth))])
    hr = np.where(truth > 0, 0.9, 0.1) + rng.normal(0, 0.05, truth.shape)  # near perfect
    lr = rng.uniform(size=truth.shape)  # x4 took everything
    states = {"HR": {"scores": hr, "labels": truth, "image_ids": ids},
              "LR": {"scores": lr, "labels": truth, "image_ids": ids}}
    out = mod.hr_vs_lr(states, CLASSES, truth, Settings(bootstrap=200))
    for arm, sc in (("HR", hr), ("LR", lr)):
        assert abs(out[arm]["macro_auc"] - mod.macro_auc(truth, sc)) < 1e-12
        assert set(out[arm]["auc"]) == set(CLASSES)
    f1 = {arm: {(r.cls, r.metric): r.value for r in evaluate_scores(sc, truth, CLASSES)}
          for arm, sc in (("HR", hr), ("LR", lr))}
    d_f1 = 100 * (f1["HR"][("Mean", "f1")] - f1["LR"][("Mean", "f1")])
    lo, hi = out["HR-LR interval"]["f1_mean"]
    assert 0 < lo <= d_f1 <= hi
    lo, hi = out["HR-LR interval"]["macro_auc"]
    assert lo > 0.2
    same = mod.hr_vs_lr({"HR": states["HR"], "LR": states["HR"]}, CLASSES, truth,
                        Settings(bootstrap=50))
    assert same["HR-LR interval"]["f1_mean"] == [0.0, 0.0]
