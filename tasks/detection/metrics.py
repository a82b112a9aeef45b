"""Per-class AP with pycocotools' COCOeval over detections the caller computed.

Conventions (the COCO ones, stated in every output through the metric catalogue):
- boxes are xyxy in image pixels, x2/y2 exclusive edges (width = x2 - x1); the COCO records use
  [x, y, w, h] with area = w * h and iscrowd = 0 (our data has no crowd regions);
- AP is COCOeval's 101-point interpolated precision, maxDets 100, area range "all";
  AP@0.5 = IoU threshold 0.5; AP = mean over the ten thresholds 0.50:0.05:0.95;
- per class k: the mean of `eval["precision"][t, :, k, 0, -1]` over entries > -1 (cocoapi's
  own summarize rule, restricted to one category);
- a class with no ground-truth box in the split is absent (not 0, not the mean); a class with
  ground truth and no detection scores 0; Mean = mean over the classes that are present.

Evaluation state (`DetectionEvaluator.state()`): every image's size, ground-truth boxes and
detections (flat arrays with the image index of each box). `tasks/detection/replay.py` scores
any multiset of those images exactly as COCOeval would (duplicates as distinct images).
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np

from tasks.base import Evaluator, MetricRow
from tasks.detection.coco import coco_index


@dataclass
class DetectionAccumulator:
    """Collects ground truth and detections image by image (O(boxes) memory, no images)."""

    num_classes: int
    images: list[dict] = field(default_factory=list)
    gts: list[dict] = field(default_factory=list)
    dets: list[dict] = field(default_factory=list)

    def add(self, size: tuple[int, int], gt_boxes: np.ndarray, gt_labels: np.ndarray,
            boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> None:
        """One image: `size` (h, w); labels are 1-based class indices (1..num_classes)."""
        iid = len(self.images) + 1
        self.images.append({"id": iid, "height": int(size[0]), "width": int(size[1])})
        for box, lab in zip(np.asarray(gt_boxes, np.float64).reshape(-1, 4),
                            np.asarray(gt_labels).reshape(-1)):
            self.gts.append(_record(len(self.gts) + 1, iid, box, int(lab)))
        for box, score, lab in zip(np.asarray(boxes, np.float64).reshape(-1, 4),
                                   np.asarray(scores, np.float64).reshape(-1),
                                   np.asarray(labels).reshape(-1)):
            rec = _record(len(self.dets) + 1, iid, box, int(lab))
            rec["score"] = float(score)
            self.dets.append(rec)

    def per_class_ap(self) -> dict[int, tuple[float, float]]:
        """{class index (1-based): (AP@0.5, AP@[.5:.95])} for the classes with ground truth."""
        return coco_per_class_ap(self.images, self.gts, self.dets, self.num_classes)


def _record(aid: int, iid: int, box: np.ndarray, label: int) -> dict:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    return {"id": aid, "image_id": iid, "category_id": label, "bbox": [x1, y1, w, h],
            "area": w * h, "iscrowd": 0}


def coco_per_class_ap(images: list[dict], gts: list[dict], dets: list[dict],
                      num_classes: int) -> dict[int, tuple[float, float]]:
    from pycocotools.cocoeval import COCOeval

    present = sorted({a["category_id"] for a in gts})
    if not present:
        return {}
    # Built directly (not COCO.loadRes, which fails on an empty detection list).
    ev = COCOeval(coco_index(images, gts, num_classes), coco_index(images, dets, num_classes), "bbox")
    with contextlib.redirect_stdout(io.StringIO()):  # progress prints
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"]  # [T iou, R recall, K class, A area, M maxDets]
    cat_ids = list(ev.params.catIds)
    out = {}
    for k in present:
        p = precision[:, :, cat_ids.index(k), 0, -1]
        ap50, ap = p[0][p[0] > -1], p[p > -1]
        out[k] = (float(ap50.mean()) if ap50.size else 0.0, float(ap.mean()) if ap.size else 0.0)
    return out


def ap_rows(per_class: dict[int, tuple[float, float]], classes: list[str]) -> list[MetricRow]:
    """Rows ap50 then ap: the present classes (index order), then Mean over them."""
    rows = []
    for metric, j in (("ap50", 0), ("ap", 1)):
        rows += [MetricRow(classes[k - 1], metric, v[j]) for k, v in sorted(per_class.items())]
        if per_class:
            rows.append(MetricRow("Mean", metric, float(np.mean([v[j] for v in per_class.values()]))))
    return rows


class DetectionEvaluator(Evaluator):
    """update(detections [(boxes xyxy, scores, 1-based labels)], targets [(size (h, w),
    gt boxes, gt labels)], ids); compute() = COCOeval over everything seen (as before)."""

    task = "detection"

    def reset(self) -> None:
        self.acc = DetectionAccumulator(len(self.classes))
        self.image_ids = []

    def update(self, predictions, targets, ids=None) -> None:  # type: ignore[no-untyped-def]
        names = self._ids(ids, len(predictions))
        for (boxes, scores, labels), (size, gt_boxes, gt_labels), name in zip(
                predictions, targets, names):
            self.acc.add(size, gt_boxes, gt_labels, boxes, scores, labels)
            self.image_ids.append(name)

    def compute(self) -> list:
        return ap_rows(self.acc.per_class_ap(), self.classes)

    def state(self) -> dict[str, np.ndarray]:
        a = self.acc

        def flat(recs: list[dict], extra: bool):
            # the COCO records as COCOeval saw them: [x, y, w, h] (area = w * h)
            boxes = np.array([r["bbox"] for r in recs], np.float64).reshape(-1, 4)
            out = {"xywh": boxes, "labels": np.array([r["category_id"] for r in recs], np.int64),
                   "img": np.array([r["image_id"] - 1 for r in recs], np.int64)}
            if extra:
                out["scores"] = np.array([r["score"] for r in recs], np.float64)
            return out

        gt, dt = flat(a.gts, False), flat(a.dets, True)
        return {"sizes": np.array([[i["height"], i["width"]] for i in a.images], np.int64).reshape(-1, 2),
                **{f"gt_{k}": v for k, v in gt.items()}, **{f"dt_{k}": v for k, v in dt.items()},
                "image_ids": np.array(self.image_ids, dtype=str)}

    @staticmethod
    def replay(state: dict[str, np.ndarray], classes: list[str]):  # type: ignore[no-untyped-def]
        from tasks.detection.replay import DetectionReplay

        return DetectionReplay(state, classes)
