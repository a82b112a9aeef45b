"""mIoU from one confusion matrix accumulated over a whole split.

Conventions (DESIGN section 3, stated here exactly because every table depends on them):
- One (K+1)x(K+1) confusion matrix over every labelled pixel of the split; rows = ground
  truth, columns = prediction (sklearn's layout). Pixels whose target is `ignore_index` (255)
  are skipped whatever was predicted.
- IoU_c = TP_c / (TP_c + FP_c + FN_c). It is NaN when the class is absent from both the ground
  truth and the prediction (0/0); a class predicted but never in the ground truth gets 0.
- "Present" = the class has at least one ground-truth pixel in the split. The reported mean
  ("Mean", metric "iou") is the mean IoU over the *foreground* classes present (class indices
  1..K); background (index 0) is reported on its own row and never enters the mean. A class
  absent from the ground truth is excluded from the mean even if it was (wrongly) predicted:
  its false positives already lower the IoU of the classes they were taken from.
- If no foreground class is present the mean is NaN (there is nothing to average).

Evaluation state (`SegmentationEvaluator.state()`): per image, per class (background first)
TP / FP / FN pixel counts, (N, K+1, 3) int64. The split's confusion-matrix diagonal, column and
row sums are their sums, so `SegmentationReplay` gives the same IoU, mean and pixel accuracy
for the whole split (test) and for any resampled multiset of images.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from tasks.base import Evaluator, MetricRow, Replay

IGNORE_INDEX = 255


def _as_long_tensor(x):  # type: ignore[no-untyped-def]
    import torch

    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    return x.reshape(-1).to(device="cpu", dtype=torch.int64)


class ConfusionMatrix:
    """Accumulates a (num_classes x num_classes) int64 matrix: rows = target, cols = pred."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        import torch

        self._cm = torch.zeros(self.num_classes * self.num_classes, dtype=torch.int64)

    def update(self, pred, target) -> None:  # type: ignore[no-untyped-def]
        """Add a batch of integer label maps of any (equal) shape."""
        import torch

        p, t = _as_long_tensor(pred), _as_long_tensor(target)
        if p.shape != t.shape:
            raise ValueError(f"pred and target differ in size: {tuple(p.shape)} vs {tuple(t.shape)}")
        keep = t != self.ignore_index
        p, t = p[keep], t[keep]
        k = self.num_classes
        # A label outside 0..K-1 would silently land in another cell of the flattened bincount.
        bad_t = (t < 0) | (t >= k)
        if bool(bad_t.any()):
            raise ValueError(f"target holds labels outside 0..{k - 1} (and != {self.ignore_index}): "
                             f"{sorted(set(t[bad_t].tolist()))[:5]}")
        if bool(((p < 0) | (p >= k)).any()):
            raise ValueError(f"prediction holds labels outside 0..{k - 1}")
        self._cm += torch.bincount(t * k + p, minlength=k * k)

    def compute(self) -> np.ndarray:
        return self._cm.reshape(self.num_classes, self.num_classes).numpy().copy()


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """IoU of every class; NaN where the class is in neither target nor prediction."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = tp / union
    iou[union == 0] = np.nan
    return iou


def present_classes(cm: np.ndarray) -> np.ndarray:
    """Boolean mask of classes with at least one ground-truth pixel (row sum > 0)."""
    return np.asarray(cm).sum(axis=1) > 0


def mean_iou_present(cm: np.ndarray, background: int | None = 0) -> float:
    """Mean IoU over the classes present in the ground truth, background excluded."""
    iou = iou_per_class(cm)
    keep = present_classes(cm)
    if background is not None:
        keep[background] = False
    return float(iou[keep].mean()) if keep.any() else float("nan")


def pixel_accuracy(cm: np.ndarray) -> float:
    total = np.asarray(cm).sum()
    return float(np.trace(cm) / total) if total else float("nan")


def metric_rows(cm: np.ndarray, classes: Sequence[str]) -> list:
    """MetricRows for one split: per foreground class IoU, background, Mean, pixel accuracy."""
    if cm.shape != (len(classes) + 1, len(classes) + 1):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(classes)} classes + background")
    iou = iou_per_class(cm)
    rows = [MetricRow(name, "iou", float(iou[k + 1])) for k, name in enumerate(classes)]
    rows.append(MetricRow("background", "iou", float(iou[0])))
    rows.append(MetricRow("Mean", "iou", mean_iou_present(cm)))
    rows.append(MetricRow("Mean", "pixel_acc", pixel_accuracy(cm)))
    return rows


def tp_fp_fn(cm: np.ndarray) -> np.ndarray:
    """(K, 3) per-class TP, FP, FN of a confusion matrix (rows = target)."""
    cm = np.asarray(cm, np.int64)
    tp = np.diag(cm)
    return np.stack([tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp], axis=1)


class SegmentationEvaluator(Evaluator):
    """update(predicted label maps, target masks, ids): one confusion matrix over the split
    (compute() is `metric_rows` of it, exactly as before) plus per-image TP/FP/FN."""

    task = "segmentation"

    def reset(self) -> None:
        self.cm = np.zeros((len(self.classes) + 1,) * 2, np.int64)
        self.counts: list[np.ndarray] = []
        self.image_ids = []

    def update(self, predictions, targets, ids=None) -> None:  # type: ignore[no-untyped-def]
        names = self._ids(ids, len(predictions))
        for pred, target, name in zip(predictions, targets, names):
            one = ConfusionMatrix(len(self.classes) + 1)
            one.update(pred, target)
            m = one.compute()
            self.cm += m
            self.counts.append(tp_fp_fn(m))
            self.image_ids.append(name)

    def compute(self) -> list:
        return metric_rows(self.cm, self.classes)

    def state(self) -> dict[str, np.ndarray]:
        k = len(self.classes) + 1
        counts = np.stack(self.counts) if self.counts else np.zeros((0, k, 3), np.int64)
        return {"counts": counts, "image_ids": np.array(self.image_ids, dtype=str)}

    @staticmethod
    def replay(state: dict[str, np.ndarray], classes: Sequence[str]) -> SegmentationReplay:
        return SegmentationReplay(state, classes)


class SegmentationReplay(Replay):
    instance_unit = "test images with the class"

    def __init__(self, state: dict[str, np.ndarray], classes: Sequence[str]):
        self.counts = np.asarray(state["counts"], np.int64)
        self.ids = [str(i) for i in state["image_ids"]]
        self.classes = list(classes)
        self.keys = ([(c, "iou") for c in self.classes]
                     + [("background", "iou"), ("Mean", "iou"), ("Mean", "pixel_acc")])

    def values(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, np.float64)
        n, k = self.counts.shape[:2]
        s = (w @ self.counts.reshape(n, -1).astype(np.float64)).reshape(len(w), k, 3)
        tp, fp, fn = s[..., 0], s[..., 1], s[..., 2]
        union = tp + fp + fn
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = tp / union
            iou[union == 0] = np.nan
            present = (tp + fn) > 0
            present[:, 0] = False
            fg = np.where(present, iou, 0.0)
            mean = fg.sum(axis=1) / present.sum(axis=1)
            total = (tp + fn).sum(axis=1)
            acc = tp.sum(axis=1) / total
        mean[present.sum(axis=1) == 0] = np.nan
        acc[total == 0] = np.nan
        return np.column_stack([iou[:, 1:], iou[:, 0], mean, acc])

    def instances(self) -> dict[str, int]:
        present = (self.counts[:, :, 0] + self.counts[:, :, 2]) > 0
        out = {c: int(present[:, k + 1].sum()) for k, c in enumerate(self.classes)}
        out["background"] = int(present[:, 0].sum())
        return out
