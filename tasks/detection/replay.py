"""COCOeval's per-class AP for any multiset of the stored images, vectorised over resamples.

`DetectionReplay(state, classes)` runs pycocotools' own per-image matching once
(`COCOeval.evaluate`, i.e. `evaluateImg`: greedy matching per image, class and IoU threshold,
top-100 detections per image and class). Matching is per image, so it holds for an image in
any resample. A resample is then a (B, N) matrix of how often each image is drawn; a drawn
image counts as that many distinct images, numbered in image order with copies adjacent
(image 0 twice -> ids 1, 2; image 1 -> id 3, ...), which is the test's reference.

`COCOeval.accumulate` then sorts all detections of a class by score (stable, image order
breaking ties), takes the cumulative TP/FP, makes precision monotone from the right and reads
it at the 101 recall thresholds. With copies adjacent, the sorted sequence of a resample is the
stored order with each detection repeated by its image's count, so the cumulative sums are
`cumsum(count * flag)` on that fixed order: at the end of each repeated run the values equal
COCOeval's bit for bit, and the points inside a run never decide a threshold read (inside a TP
run precision rises, so the right-envelope is the run end's; inside an FP run recall is flat,
so `searchsorted(..., "left")` lands before it). The exception is two detections of one class
in one image with exactly the same score: there the copies interleave, and that class is
computed on the expanded sequence per resample (`_expanded`, exact but slower).
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from tasks.base import Replay

REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
CHUNK = 16  # resamples per vectorised block (memory: CHUNK x 10 x detections floats x 4)


def _records(state: dict, prefix: str, scored: bool) -> list[dict]:
    recs = []
    for j, (box, lab, img) in enumerate(zip(state[f"{prefix}_xywh"], state[f"{prefix}_labels"],
                                           state[f"{prefix}_img"])):
        w, h = float(box[2]), float(box[3])
        r = {"id": j + 1, "image_id": int(img) + 1, "category_id": int(lab),
             "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h, "iscrowd": 0}
        if scored:
            r["score"] = float(state["dt_scores"][j])
        recs.append(r)
    return recs


def _match(state: dict, num_classes: int):
    """COCOeval.evaluate on the stored images: its evalImgs and params (area range "all")."""
    from pycocotools.cocoeval import COCOeval

    from tasks.detection.coco import coco_index

    images = [{"id": i + 1, "height": int(h), "width": int(w)}
              for i, (h, w) in enumerate(np.asarray(state["sizes"]).reshape(-1, 2))]
    gt = coco_index(images, _records(state, "gt", False), num_classes)
    dt = coco_index(images, _records(state, "dt", True), num_classes)
    ev = COCOeval(gt, dt, "bbox")
    ev.params.areaRng, ev.params.areaRngLbl = [ev.params.areaRng[0]], ["all"]
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
    return ev


class _Class:
    """One class's detections in COCOeval's accumulate order, and its ground truth per image."""

    def __init__(self, evals: list, n: int):
        E = [(i, e) for i, e in enumerate(evals) if e is not None]
        self.gt = np.zeros(n)
        for i, e in E:
            self.gt[i] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
        scores = [np.asarray(e["dtScores"][:100], np.float64) for _, e in E]
        self.n_dt = sum(len(s) for s in scores)
        if not self.n_dt:
            self.img = np.zeros(0, np.int64)
            return
        score = np.concatenate(scores)
        order = np.argsort(-score, kind="mergesort")
        self.score = score[order]
        self.img = np.concatenate([np.full(len(s), i) for (i, _), s in zip(E, scores)])[order]
        dtm = np.concatenate([np.asarray(e["dtMatches"])[:, :100] for _, e in E], axis=1)[:, order]
        dtig = np.concatenate([np.asarray(e["dtIgnore"])[:, :100] for _, e in E], axis=1)[:, order]
        self.tp = np.logical_and(dtm, ~dtig.astype(bool)).astype(np.float64)
        self.fp = np.logical_and(~dtm.astype(bool), ~dtig.astype(bool)).astype(np.float64)
        same = (self.img[1:] == self.img[:-1]) & (self.score[1:] == self.score[:-1])
        self.ties = bool(same.any())
        self.block = np.concatenate([[0], np.cumsum(~same)])  # (score, image) tie blocks

    def ap(self, w: np.ndarray) -> np.ndarray:
        """(B, 2): AP@0.5 and AP@[.5:.95] per resample; NaN where no ground truth."""
        npig = w @ self.gt
        out = np.full((len(w), 2), np.nan)
        has = npig > 0
        if not self.n_dt:
            out[has] = 0.0
            return out
        rows = np.flatnonzero(has)
        if self.ties:
            for b in rows:
                out[b] = self._expanded(w[b], npig[b])
            return out
        for start in range(0, len(rows), CHUNK):
            rb = rows[start:start + CHUNK]
            wd = w[rb][:, self.img]                                      # (b, D)
            tpc = np.cumsum(wd[:, None, :] * self.tp[None], axis=2)      # (b, T, D)
            fpc = np.cumsum(wd[:, None, :] * self.fp[None], axis=2)
            out[rb] = _interpolated(tpc, fpc, npig[rb][:, None, None])
        return out

    def _expanded(self, counts: np.ndarray, npig: float) -> np.ndarray:
        reps = counts[self.img].astype(np.int64)
        idx = np.repeat(np.arange(len(self.img)), reps)
        starts = np.cumsum(reps) - reps
        copy = np.arange(len(idx)) - np.repeat(starts, reps)
        idx = idx[np.lexsort((idx, copy, self.block[idx]))]  # copy-major inside a tie block
        tpc = np.cumsum(self.tp[:, idx], axis=1)[None]
        fpc = np.cumsum(self.fp[:, idx], axis=1)[None]
        return _interpolated(tpc, fpc, np.array(npig).reshape(1, 1, 1))[0]


def _interpolated(tpc: np.ndarray, fpc: np.ndarray, npig: np.ndarray) -> np.ndarray:
    """COCOeval.accumulate's precision at REC_THRS from cumulative TP/FP (b, T, D) -> (b, 2).

    `searchsorted(rc, thr, "left")` for every row at once, exactly: rc = tp / npig with tp
    integer-valued, so rc >= thr <=> tp >= k, k = the smallest integer with k / npig >= thr
    (found with the same float division); the first index with tp >= k is one searchsorted
    over all rows, keyed row * (max tp + 2) + tp (integers, exact in float64)."""
    rc = tpc / npig
    pr = tpc / (fpc + tpc + np.spacing(1))
    env = np.maximum.accumulate(pr[..., ::-1], axis=-1)[..., ::-1]
    b, t, d = rc.shape
    if d == 0:
        return np.zeros((b, 2))
    n = npig.reshape(b, 1)                                              # (b, 1)
    k = np.ceil(REC_THRS[None, :] * n)                                  # (b, R) candidates
    k = np.where((k - 1 >= 0) & ((k - 1) / n >= REC_THRS), k - 1, k)
    k = np.where(k / n < REC_THRS, k + 1, k)
    big = float(tpc.max()) + 2.0
    rows = np.arange(b * t, dtype=np.float64).reshape(b, t, 1)
    keys = (rows * big + tpc).ravel()
    want = rows * big + np.minimum(k, big - 1)[:, None, :]              # (b, T, R)
    inds = np.searchsorted(keys, want.ravel(), side="left").reshape(b, t, -1) \
        - (np.arange(b * t) * d).reshape(b, t, 1)
    ok = inds < d
    q = np.where(ok, np.take_along_axis(env, np.minimum(inds, d - 1), axis=2), 0.0)
    return np.stack([q[:, 0].mean(axis=1), q.reshape(b, -1).mean(axis=1)], axis=1)


class DetectionReplay(Replay):
    instance_unit = "test boxes"

    def __init__(self, state: dict, classes: list[str]):
        self.classes = list(classes)
        self.ids = [str(i) for i in state["image_ids"]]
        n = len(np.asarray(state["sizes"]).reshape(-1, 2))
        self.n = n
        labels = np.asarray(state["gt_labels"], np.int64)
        self.boxes = {c: int((labels == k + 1).sum()) for k, c in enumerate(self.classes)}
        self.present = [k + 1 for k, c in enumerate(self.classes) if self.boxes[c]]
        self.per_class: dict[int, _Class] = {}
        if self.present and n:
            ev = _match(state, len(self.classes))
            cat_ids = list(ev.params.catIds)
            for k in self.present:
                ki = cat_ids.index(k)
                self.per_class[k] = _Class(ev.evalImgs[ki * n:(ki + 1) * n], n)
        names = [self.classes[k - 1] for k in self.present]
        self.keys = ([(c, "ap50") for c in names] + ([("Mean", "ap50")] if names else [])
                     + [(c, "ap") for c in names] + ([("Mean", "ap")] if names else []))

    def values(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, np.float64)
        if not self.present:
            return np.zeros((len(w), 0))
        ap = np.stack([self.per_class[k].ap(w) for k in self.present], axis=1)  # (B, K, 2)
        with np.errstate(invalid="ignore"), contextlib.suppress(RuntimeWarning):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(ap, axis=1)                                  # (B, 2)
        return np.concatenate([ap[..., 0], mean[:, :1], ap[..., 1], mean[:, 1:]], axis=1)

    def instances(self) -> dict[str, int]:
        return dict(self.boxes)
