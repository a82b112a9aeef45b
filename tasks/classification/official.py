"""Sewer-ML's official multi-label metrics (Haurum & Moeslund 2021, `evaluation()` of the
official code; REFERENCES.md section 7) and the paper's 15-class Mean — pure numpy functions.

Official definitions, for K classes plus the implicit **normal** class (no label set / no
score >= threshold), i.e. K + 1 entries, normal last:
- Ng = ground-truth count, Np = predicted count (score >= threshold), Nc = correct (TP);
  **a predicted count of 0 is set to 1** before dividing (so P = 0 there);
- per entry P = Nc / Np, R = Nc / Ng (NaN where Ng = 0, as in the official code),
  F1 = 2PR / (P + R), F2 = 5PR / (4P + R), each 0 where it is 0/0 or NaN;
- **MF1** (macro F1) = the mean of F1 over all K + 1 entries: the normal class and classes the
  split never shows (F1 = 0) included. With Sewer-ML's 17 classes that is 18 entries;
- **F2-CIW** = sum_k w_k F2_k / sum_k w_k over the K defect classes with the official
  class-importance weights (DESIGN.md section 4; tasks/classification/metrics.py CIW_WEIGHTS);
- **F1-Normal** = F1 of the normal entry.
These equal the standard count formulas (F1 = 2TP / (2TP + FP + FN), F2 = 5TP / (5TP + 4FN +
FP), zero_division = 0), which tests/test_paper_official.py checks against scikit-learn.

The paper's classification Mean (Tables 7-9) is over the 15 classes it lists: the 17 Sewer-ML
codes without PB and OS (PAPER15). `class_mean(..., "paper15")` averages those of them that the
split has a positive for (the harness's convention for "Mean": a class the split never shows
carries no information); `"all"` averages every class with a positive. Config key:
`task.mean_classes: all | paper15`; report row labels: MEAN_ROW, MEAN15_ROW, MF1_ROW.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

THRESHOLD = 0.5
PAPER15 = ("RB", "OB", "PF", "DE", "FS", "IS", "RO", "IN", "AF", "BE", "FO", "GR", "PH", "OP",
           "OK")
MEAN_CLASSES = ("all", "paper15")
MEAN_ROW, MEAN15_ROW, MF1_ROW = "Mean", "Mean (15)", "MF1"


@dataclass(frozen=True)
class OfficialMetrics:
    """Per-entry arrays have K + 1 entries, the normal class last (`entries`)."""

    entries: tuple[str, ...]
    ng: np.ndarray
    np_: np.ndarray          # after the official "0 -> 1"
    nc: np.ndarray
    precision: np.ndarray
    recall: np.ndarray       # NaN where Ng = 0 (the official code's 0/0)
    f1: np.ndarray
    f2: np.ndarray
    mf1: float
    f2_ciw: float            # NaN when a class has no official weight
    f1_normal: float
    micro_f1: float          # 2 sum Nc / (sum Np + sum Ng) over the K + 1 entries, with the
                             # official Np (0 -> 1), so not scikit-learn's where a Np was 0


def _counts(scores: np.ndarray, targets: np.ndarray, threshold: float):
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} must both be (N, K)")
    gt = targets == 1            # -1 (MultiLabelSoftMarginLoss targets) counts as 0, officially
    pred = scores >= threshold
    gt_normal, pred_normal = ~gt.any(1), ~pred.any(1)
    gt = np.column_stack([gt, gt_normal])
    pred = np.column_stack([pred, pred_normal])
    return (gt.sum(0).astype(np.float64), pred.sum(0).astype(np.float64),
            (gt & pred).sum(0).astype(np.float64))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return out


def _zero_nan(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, 0.0)


def evaluation(scores: np.ndarray, targets: np.ndarray, classes: Sequence[str],
               weights: Mapping[str, float] | None = None,
               threshold: float = THRESHOLD) -> OfficialMetrics:
    """The official Sewer-ML metrics of one split: scores (N, K) in [0, 1], targets (N, K) 0/1."""
    ng, np_raw, nc = _counts(scores, targets, threshold)
    if len(classes) != len(ng) - 1:
        raise ValueError(f"{len(ng) - 1} score columns but {len(classes)} class names")
    return from_counts(nc, np_raw - nc, ng - nc, classes, weights)


def from_counts(tp: Sequence[float], fp: Sequence[float], fn: Sequence[float],
                classes: Sequence[str], weights: Mapping[str, float] | None = None
                ) -> OfficialMetrics:
    """The same from accumulated counts of K + 1 entries (the K classes, then the normal class),
    e.g. an evaluator's per-image sufficient statistics summed over the split."""
    if weights is None:
        from tasks.classification.metrics import CIW_WEIGHTS as weights
    classes = tuple(classes)
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    if not len(tp) == len(fp) == len(fn) == len(classes) + 1:
        raise ValueError(f"counts of {len(tp)}/{len(fp)}/{len(fn)} entries for {len(classes)} "
                         "classes: expected K + 1 (the normal class last)")
    ng, np_raw, nc = tp + fn, tp + fp, tp
    np_ = np.where(np_raw == 0, 1.0, np_raw)
    p, r = _ratio(nc, np_), _ratio(nc, ng)
    f1 = _zero_nan(_ratio(2 * p * r, p + r))
    f2 = _zero_nan(_ratio(5 * p * r, 4 * p + r))
    if all(c in weights for c in classes):
        w = np.array([weights[c] for c in classes], dtype=np.float64)
        ciw = float((w * f2[:-1]).sum() / w.sum())
    else:
        ciw = float("nan")
    micro = float(2 * nc.sum() / (np_.sum() + ng.sum())) if np_.sum() + ng.sum() else 0.0
    return OfficialMetrics(classes + ("normal",), ng, np_, nc, p, r, f1, f2,
                           float(f1.mean()), ciw, float(f1[-1]), micro)


def mean_class_indices(classes: Sequence[str], which: str) -> list[int]:
    """Which of `classes` a Mean averages over: all of them, or the paper's 15 (no PB, OS)."""
    if which not in MEAN_CLASSES:
        raise ValueError(f"mean_classes={which!r}: expected one of {', '.join(MEAN_CLASSES)}")
    if which == "all":
        return list(range(len(classes)))
    return [k for k, c in enumerate(classes) if c in PAPER15]


def class_mean(values: np.ndarray, classes: Sequence[str], present: np.ndarray,
               which: str = "all") -> float:
    """Mean of per-class `values` over the chosen classes that have a positive (`present`);
    NaN when none has."""
    keep = [k for k in mean_class_indices(classes, which) if bool(np.asarray(present)[k])]
    return float(np.asarray(values, dtype=np.float64)[keep].mean()) if keep else float("nan")


def summary_values(scores: np.ndarray, targets: np.ndarray, classes: Sequence[str],
                   mean_classes: str = "all") -> dict[tuple[str, str], float]:
    """{(row label, metric): value} to report beside the per-class rows: `Mean` (over every
    class with a positive), `Mean (15)` when mean_classes = paper15 (f1, f2, precision, recall),
    and `MF1` (official, stored under metric f1 so the F1 table carries it)."""
    return summary_from_metrics(evaluation(scores, targets, classes), classes, mean_classes)


def summary_from_metrics(m: OfficialMetrics, classes: Sequence[str],
                         mean_classes: str = "all") -> dict[tuple[str, str], float]:
    """summary_values() from already computed metrics (e.g. `from_counts`)."""
    present = m.ng[:-1] > 0
    p = _zero_nan(m.precision[:-1])
    r = _zero_nan(m.recall[:-1])
    per = {"precision": p, "recall": r, "f1": m.f1[:-1], "f2": m.f2[:-1]}
    out = {(MEAN_ROW, k): class_mean(v, classes, present, "all") for k, v in per.items()}
    if mean_classes == "paper15":
        out.update({(MEAN15_ROW, k): class_mean(v, classes, present, "paper15")
                    for k, v in per.items()})
    else:
        mean_class_indices(classes, mean_classes)  # validates the name
    out[(MF1_ROW, "f1")] = m.mf1
    return out
