"""YOLO txt labels: `cls cx cy w h` per box, cls 0-based, coordinates normalised to [0, 1].

Shared by the Pipe-like reader (`yolo_decode`), its writer and the YOLO task model, which
writes a training split for ultralytics (`yolo_label_text`). Written with 17 significant
digits and nudged by float64 ulps where needed, so decoding gives back exactly the float32
xyxy box (tested on 170k random boxes in tests/test_formats.py).
"""
from __future__ import annotations

import numpy as np


def yolo_decode(c: float, size: float, n: int) -> tuple[float, float]:
    """One axis of a YOLO box: normalised centre and size -> pixel (low, high), float64.

    `write_pipe` encodes with the inverse and checks that this gives back its float32 box.
    """
    return (c - size / 2) * n, (c + size / 2) * n


def _yolo_axis(lo: np.float32, hi: np.float32, n: int) -> tuple[float, float]:
    """Normalised (centre, size) whose `yolo_decode` gives back exactly (lo, hi) in float32.

    The plain formula is exact for nearly every box; for tiny coordinates next to large ones
    float64 rounding can land one float32 ulp off, so nudge by a few float64 ulps until exact.
    """
    c, size = (float(lo) + float(hi)) / 2 / n, (float(hi) - float(lo)) / n
    want = (lo, hi)
    for dc in (0, 1, -1, 2, -2, 3, -3, 4, -4):
        for ds in (0, 1, -1, 2, -2, 3, -3, 4, -4):
            cc = c + dc * np.spacing(c) if c else c
            ss = size + ds * np.spacing(size)
            got = yolo_decode(float(cc), float(ss), n)
            if (np.float32(got[0]), np.float32(got[1])) == want:
                return float(cc), float(ss)
    # Only reached for coordinates within ~1e-5 px of 0 beside a large one: off by < 1e-12 px.
    return c, size


def yolo_label_text(boxes: np.ndarray, labels: np.ndarray, h: int, w: int) -> str:
    """YOLO txt lines (`cls cx cy w h`, cls 0-based, normalised) of xyxy pixel boxes with
    1-based labels in an h x w image; `yolo_decode` gives the float32 boxes back exactly."""
    lines = []
    for box, lab in zip(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)):
        (cx, bw), (cy, bh) = _yolo_axis(box[0], box[2], w), _yolo_axis(box[1], box[3], h)
        lines.append(f"{int(lab) - 1} " + " ".join(f"{v:.17g}" for v in (cx, cy, bw, bh)))
    return "".join(line + "\n" for line in lines)
