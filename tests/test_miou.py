"""The confusion matrix and IoU agree with scikit-learn and torchmetrics."""
from __future__ import annotations

import numpy as np
import pytest

import torch  # noqa: E402
from sklearn.metrics import confusion_matrix, jaccard_score  # noqa: E402

from tasks.segmentation.metrics import (  # noqa: E402
    ConfusionMatrix,
    iou_per_class,
    mean_iou_present,
    metric_rows,
    pixel_accuracy,
    present_classes,
)

K1 = 5  # background + 4 foreground classes; class 3 never occurs in the target


def label_maps(seed: int, n: int = 4, shape: tuple[int, int] = (17, 23)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.choice([0, 1, 2, 4], size=(n, *shape), p=[0.6, 0.2, 0.1, 0.1]).astype(np.uint8)
    target[rng.random(target.shape) < 0.1] = 255
    pred = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, K1, target.shape))
    pred = np.where(pred == 255, rng.integers(0, K1, target.shape), pred).astype(np.uint8)
    return pred, target


def _sk(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = target.reshape(-1) != 255
    return pred.reshape(-1)[keep], target.reshape(-1)[keep]


def test_matrix_matches_sklearn() -> None:
    pred, target = label_maps(0)
    cm = ConfusionMatrix(K1)
    cm.update(pred, target)
    p, t = _sk(pred, target)
    np.testing.assert_array_equal(cm.compute(), confusion_matrix(t, p, labels=list(range(K1))))


def test_iou_matches_sklearn_and_torchmetrics() -> None:
    from torchmetrics.classification import MulticlassJaccardIndex

    pred, target = label_maps(1)
    cm = ConfusionMatrix(K1)
    cm.update(torch.from_numpy(pred), torch.from_numpy(target))  # torch input works too
    iou = iou_per_class(cm.compute())
    p, t = _sk(pred, target)
    sk = jaccard_score(t, p, labels=list(range(K1)), average=None, zero_division=0)
    defined = ~np.isnan(iou)  # sklearn reports 0/0 as zero_division; we report NaN
    np.testing.assert_allclose(iou[defined], sk[defined], atol=1e-6)
    assert (sk[~defined] == 0).all()
    tm = MulticlassJaccardIndex(num_classes=K1, average="none", ignore_index=255)
    tm.update(torch.from_numpy(pred).long(), torch.from_numpy(target).long())
    tmv = tm.compute().double().numpy()
    np.testing.assert_allclose(iou[defined], tmv[defined], atol=1e-6)


def test_absent_class_nan_or_zero_and_mean_over_present() -> None:
    pred, target = label_maps(2)
    assert not (target == 3).any()
    cm_no3 = ConfusionMatrix(K1)
    cm_no3.update(np.where(pred == 3, 0, pred), target)  # 3 in neither: NaN
    assert np.isnan(iou_per_class(cm_no3.compute())[3])
    cm = ConfusionMatrix(K1)
    cm.update(pred, target)  # 3 predicted but absent from the ground truth: IoU 0, not "present"
    m = cm.compute()
    iou = iou_per_class(m)
    assert iou[3] == 0.0
    assert list(present_classes(m)) == [True, True, True, False, True]
    assert mean_iou_present(m) == pytest.approx(np.mean(iou[[1, 2, 4]]), abs=1e-12)
    assert mean_iou_present(m, background=None) == pytest.approx(np.mean(iou[[0, 1, 2, 4]]))
    assert pixel_accuracy(m) == pytest.approx(np.trace(m) / m.sum())


def test_batches_accumulate_to_one_matrix() -> None:
    pred, target = label_maps(3, n=6)
    whole = ConfusionMatrix(K1)
    whole.update(pred, target)
    parts = ConfusionMatrix(K1)
    for i in range(0, 6, 2):
        parts.update(pred[i:i + 2], target[i:i + 2])
    parts.update(np.zeros((0,), np.uint8), np.zeros((0,), np.uint8))  # an empty batch is harmless
    np.testing.assert_array_equal(whole.compute(), parts.compute())
    # The split-level mIoU is not the mean of per-image mIoUs (the reason for one matrix).
    per_image = []
    for i in range(6):
        c = ConfusionMatrix(K1)
        c.update(pred[i], target[i])
        per_image.append(mean_iou_present(c.compute()))
    assert mean_iou_present(whole.compute()) != pytest.approx(float(np.mean(per_image)), abs=1e-9)


def test_rows_and_errors() -> None:
    pred, target = label_maps(4)
    cm = ConfusionMatrix(K1)
    cm.update(pred, target)
    names = ["JO", "IL", "gone", "IN"]
    rows = {(r.cls, r.metric): r.value for r in metric_rows(cm.compute(), names)}
    iou = iou_per_class(cm.compute())
    assert rows[("IL", "iou")] == pytest.approx(iou[2])
    assert rows[("background", "iou")] == pytest.approx(iou[0])
    assert rows[("Mean", "iou")] == pytest.approx(np.mean(iou[[1, 2, 4]]))
    assert 0 <= rows[("Mean", "pixel_acc")] <= 1
    with pytest.raises(ValueError, match="does not match"):
        metric_rows(cm.compute(), names[:2])
    with pytest.raises(ValueError, match="outside"):
        cm.update(np.zeros(3, np.uint8), np.array([0, 7, 1], np.uint8))
    with pytest.raises(ValueError, match="differ in size"):
        cm.update(np.zeros(3, np.uint8), np.zeros(4, np.uint8))
    empty = ConfusionMatrix(K1).compute()
    assert np.isnan(mean_iou_present(empty)) and np.isnan(pixel_accuracy(empty))
