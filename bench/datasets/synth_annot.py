"""Annotations derived from a SynthSewer label buffer: index masks, boxes, multi-labels.

Conventions (the views' docstring repeats them):
- Index mask: uint8, 0 = background, k = classes[k-1], 255 = ignore.
- Components are 8-connected (scipy.ndimage.label with a 3x3 structure of ones), per class.
- A component of fewer than `min_pixels` pixels is too small to annotate: it becomes 255
  (ignore) in the mask and gets no box, so a model is neither rewarded nor punished there.
- Boxes: float32 (N, 4) xyxy in pixel-edge coordinates, x2/y2 exclusive:
  x1 = min_col, y1 = min_row, x2 = max_col + 1, y2 = max_row + 1 (COCO's [x, y, w, h] with
  w = x2 - x1). Invariant: every box is the tight box of one component of its class in the
  returned mask, and every component of a class in the returned mask has exactly one box.
- Multi-label: class k is present iff its label-buffer pixel count >= `min_pixels`.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from bench.datasets.synth_defects import LABEL_CODES

STRUCTURE = np.ones((3, 3), bool)  # 8-connectivity
IGNORE = 255


def class_lut(classes: list[str]) -> np.ndarray:
    """uint8 LUT: label-buffer value -> 1-based index in `classes` (0 when not a class)."""
    lut = np.zeros(256, np.uint8)
    for k, code in enumerate(classes, start=1):
        if code in LABEL_CODES:
            lut[LABEL_CODES.index(code) + 1] = k
    return lut


def index_mask(label: np.ndarray, classes: list[str]) -> np.ndarray:
    return class_lut(classes).take(label)


def boxes_from_mask(mask: np.ndarray, n_classes: int, min_pixels: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask with small components set to IGNORE, boxes (N, 4) float32, labels (N,) int64)."""
    mask = mask.copy()
    boxes, labels = [], []
    for k in range(1, n_classes + 1):
        comp, n = ndimage.label(mask == k, structure=STRUCTURE)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel(), minlength=n + 1)
        small = sizes < min_pixels
        small[0] = False
        if small.any():
            mask[small[comp]] = IGNORE
        for j, sl in enumerate(ndimage.find_objects(comp), start=1):
            if sl is not None and not small[j]:
                boxes.append((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
                labels.append(k)
    return (mask, np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(labels, np.int64))


def multilabel(label: np.ndarray, classes: list[str], min_pixels: int) -> np.ndarray:
    """uint8 (C,) presence vector over `classes` from a label buffer."""
    counts = np.bincount(class_lut(classes).take(label).ravel(), minlength=len(classes) + 1)
    return (counts[1:] >= min_pixels).astype(np.uint8)
