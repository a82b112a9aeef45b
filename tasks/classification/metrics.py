"""Multi-label classification metrics (Sewer-ML's benchmark and the paper's Tables 7-9).

Conventions (stated in every output):
- A class is predicted when its score is **>= 0.5** (THRESHOLD; Sewer-ML's official code uses
  `scores >= threshold`; a logit >= 0 is a sigmoid score >= 0.5).
- Per class c over the whole split: TP, FP, FN from the binarised predictions;
  P = TP / (TP + FP), R = TP / (TP + FN), F_beta = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP),
  each 0 where its denominator is 0 (scikit-learn's `zero_division=0`).
- `Mean` (per metric) = the mean over the classes with at least one positive in the ground
  truth of the split (a class the data never shows carries no information; the paper's mean is
  over the classes it lists). NaN when no class has a positive.
- `F2-CIW` = sum_c w_c F2_c / sum_c w_c over the dataset's classes with Sewer-ML's official
  class-importance weights (CIW_WEIGHTS); classes without a positive count with F2 = 0, as in
  the official evaluation over the 17 classes. Not reported when a class has no official weight
  (data whose classes are not Sewer-ML codes).
- `F1-Normal` = F1 of the implicit normal class: ground truth normal = no label set; predicted
  normal = no score >= 0.5.

Evaluation state (`ClassificationEvaluator.state()`): every sample's scores (N, C) and 0/1
labels (N, C); `ClassificationReplay` recomputes every row above from them for any resampled
multiset of samples (per-sample TP/FP/FN are summed with the resample's counts).

numpy only (no torch): the spec, reports and tests use it without loading a network.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tasks.base import Evaluator, MetricRow, Replay

THRESHOLD = 0.5
# Sewer-ML's class-importance weights (Haurum & Moeslund 2021; DESIGN.md section 4).
CIW_WEIGHTS: dict[str, float] = {
    "RB": 5.55, "OB": 3.0625, "PF": 1.6075, "DE": 0.9, "FS": 3.5625, "IS": 1.025, "RO": 1.975,
    "IN": 1.7375, "AF": 0.45, "BE": 1.2625, "FO": 1.375, "GR": 0.5, "PH": 2.3125, "PB": 2.3125,
    "OS": 5.0, "OP": 2.125, "OK": 2.44,
}
F2_CIW_ROW, F1_NORMAL_ROW = "F2-CIW", "F1-Normal"


def binarise(scores: np.ndarray) -> np.ndarray:
    """Scores (N, C) in [0, 1] -> bool predictions, score >= THRESHOLD."""
    return np.asarray(scores, dtype=np.float64) >= THRESHOLD


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass
class Counts:
    """Per-class TP / FP / FN plus the normal-class counts, accumulated batch by batch."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    normal_tp: int = 0
    normal_fp: int = 0
    normal_fn: int = 0
    n: int = 0

    @classmethod
    def zeros(cls, num_classes: int) -> Counts:
        z = np.zeros(num_classes, np.int64)
        return cls(z.copy(), z.copy(), z.copy())

    def update(self, scores: np.ndarray, labels: np.ndarray) -> None:
        """scores (N, C) float in [0, 1], labels (N, C) 0/1."""
        pred = binarise(scores)
        gt = np.asarray(labels) != 0
        if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != len(self.tp):
            raise ValueError(f"scores {pred.shape} and labels {gt.shape} must both be "
                             f"(N, {len(self.tp)})")
        self.tp += (pred & gt).sum(0)
        self.fp += (pred & ~gt).sum(0)
        self.fn += (~pred & gt).sum(0)
        pred_normal, gt_normal = ~pred.any(1), ~gt.any(1)
        self.normal_tp += int((pred_normal & gt_normal).sum())
        self.normal_fp += int((pred_normal & ~gt_normal).sum())
        self.normal_fn += int((~pred_normal & gt_normal).sum())
        self.n += len(gt)


def fbeta(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, beta: float) -> np.ndarray:
    b2 = beta * beta
    return _safe_div((1 + b2) * np.asarray(tp), (1 + b2) * np.asarray(tp) + b2 * np.asarray(fn)
                     + np.asarray(fp))


def per_class(c: Counts) -> dict[str, np.ndarray]:
    """precision, recall, f1, f2 per class (zero_division = 0)."""
    return {"precision": _safe_div(c.tp, c.tp + c.fp), "recall": _safe_div(c.tp, c.tp + c.fn),
            "f1": fbeta(c.tp, c.fp, c.fn, 1.0), "f2": fbeta(c.tp, c.fp, c.fn, 2.0)}


def f2_ciw(f2: np.ndarray, classes: Sequence[str]) -> float:
    """Class-importance-weighted F2 over `classes`; NaN if a class has no official weight."""
    if any(c not in CIW_WEIGHTS for c in classes):
        return float("nan")
    w = np.array([CIW_WEIGHTS[c] for c in classes])
    return float((w * np.asarray(f2)).sum() / w.sum())


def f1_normal(c: Counts) -> float:
    return float(fbeta(np.array(c.normal_tp), np.array(c.normal_fp), np.array(c.normal_fn), 1.0))


def metric_rows(c: Counts, classes: Sequence[str]) -> list:
    """MetricRows: per class P/R/F1/F2, Mean of each over the classes present, F2-CIW,
    F1-Normal."""
    if len(classes) != len(c.tp):
        raise ValueError(f"{len(c.tp)} counted classes but {len(classes)} class names")
    values = per_class(c)
    present = (c.tp + c.fn) > 0
    rows = [MetricRow(name, metric, float(v[k])) for metric, v in values.items()
            for k, name in enumerate(classes)]
    for metric, v in values.items():
        rows.append(MetricRow("Mean", metric, float(v[present].mean()) if present.any()
                              else float("nan")))
    ciw = f2_ciw(values["f2"], classes)
    if not np.isnan(ciw):
        rows.append(MetricRow(F2_CIW_ROW, "f2_ciw", ciw))
    rows.append(MetricRow(F1_NORMAL_ROW, "f1_normal", f1_normal(c)))
    return rows


def evaluate_scores(scores: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> list:
    """All rows for one (N, C) score matrix (tests and baselines)."""
    c = Counts.zeros(len(classes))
    c.update(scores, labels)
    return metric_rows(c, classes)


class ClassificationEvaluator(Evaluator):
    """update(scores (B, C), labels (B, C), ids); compute() = `metric_rows` of the summed
    `Counts`, exactly as before; state() = the scores and labels of every sample."""

    task = "classification"

    def reset(self) -> None:
        self.counts = Counts.zeros(len(self.classes))
        self.scores: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.image_ids = []

    def update(self, predictions, targets, ids=None) -> None:  # type: ignore[no-untyped-def]
        scores, labels = np.asarray(predictions), np.asarray(targets)
        self.counts.update(scores, labels)
        self.scores.append(scores.astype(np.float64))
        self.labels.append((labels != 0).astype(np.uint8))
        self.image_ids += self._ids(ids, len(scores))

    def compute(self) -> list:
        return metric_rows(self.counts, self.classes)

    def state(self) -> dict[str, np.ndarray]:
        c = len(self.classes)
        return {"scores": np.concatenate(self.scores) if self.scores else np.zeros((0, c)),
                "labels": np.concatenate(self.labels) if self.labels else np.zeros((0, c), np.uint8),
                "image_ids": np.array(self.image_ids, dtype=str)}

    @staticmethod
    def replay(state: dict[str, np.ndarray], classes: Sequence[str]) -> ClassificationReplay:
        return ClassificationReplay(state, classes)


class ClassificationReplay(Replay):
    instance_unit = "test positives"
    _METRICS = ("precision", "recall", "f1", "f2")

    def __init__(self, state: dict[str, np.ndarray], classes: Sequence[str]):
        self.classes = list(classes)
        self.ids = [str(i) for i in state["image_ids"]]
        pred, gt = binarise(state["scores"]), np.asarray(state["labels"]) != 0
        pn, gn = ~pred.any(1), ~gt.any(1)
        self.per_sample = np.column_stack([pred & gt, pred & ~gt, ~pred & gt, pn & gn, pn & ~gn,
                                           ~pn & gn]).astype(np.float64)
        self.positives = gt.sum(0)
        self.ciw = all(c in CIW_WEIGHTS for c in self.classes)
        self.keys = [(name, m) for m in self._METRICS for name in self.classes]
        self.keys += [("Mean", m) for m in self._METRICS]
        if self.ciw:
            self.keys.append((F2_CIW_ROW, "f2_ciw"))
        self.keys.append((F1_NORMAL_ROW, "f1_normal"))

    def values(self, weights: np.ndarray) -> np.ndarray:
        c = len(self.classes)
        s = np.asarray(weights, np.float64) @ self.per_sample
        tp, fp, fn = s[:, :c], s[:, c:2 * c], s[:, 2 * c:3 * c]
        values = {"precision": _safe_div(tp, tp + fp), "recall": _safe_div(tp, tp + fn),
                  "f1": fbeta(tp, fp, fn, 1.0), "f2": fbeta(tp, fp, fn, 2.0)}
        present = (tp + fn) > 0
        cols = [values[m] for m in self._METRICS]
        with np.errstate(invalid="ignore", divide="ignore"):
            for m in self._METRICS:
                v = np.where(present, values[m], 0.0)
                cols.append((v.sum(1) / present.sum(1))[:, None])
        if self.ciw:
            w = np.array([CIW_WEIGHTS[k] for k in self.classes])
            cols.append(((w * values["f2"]).sum(1) / w.sum())[:, None])
        cols.append(fbeta(s[:, 3 * c], s[:, 3 * c + 1], s[:, 3 * c + 2], 1.0)[:, None])
        return np.concatenate(cols, axis=1)

    def instances(self) -> dict[str, int]:
        return {k: int(n) for k, n in zip(self.classes, self.positives)}
