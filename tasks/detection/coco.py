"""A pycocotools COCO index built from in-memory records (shared by metrics.py and replay.py)."""
from __future__ import annotations

import contextlib
import io


def coco_index(images: list[dict], anns: list[dict], num_classes: int):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": k} for k in range(1, num_classes + 1)]}
    with contextlib.redirect_stdout(io.StringIO()):  # "creating index..."
        coco.createIndex()
    return coco
