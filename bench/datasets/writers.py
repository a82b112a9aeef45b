"""Write any Dataset into the three folder formats (layouts: see each reader's docstring).

- `write_srfolder`: HR, LR (the sample's own, else `degrade(hr, DegradationConfig(),
  sample_seed(0, id))`), Ref = refs[0] (extra refs are dropped), depth, Ref_depth.
- `write_pipe`: images, index masks, COCO JSON and YOLO txt (both, from the same boxes) and
  data.yaml. COCO bbox = [x1, y1, x2 - x1, y2 - y1] computed in float64 from the float32 box
  and written with Python's shortest round-trip repr; the reader's x1 + w is then exactly x2.
  YOLO values are written with 17 significant digits (6 decimals would lose ~1e-3 px) and,
  where float64 rounding would land one float32 ulp off, nudged by a few float64 ulps so the
  reader's `yolo_decode` gives back exactly the float32 box (tested on 170k random boxes; the
  only misses are coordinates within 1e-5 px of 0, off by < 1e-12 px).
- `write_sewerml`: train + val rows into SewerML_Train.csv with a `Split` column (so they read
  back as the same splits), test rows into SewerML_Val.csv, images as PNG in images/.

File names are `file_stem(sample.id)` + extension: ids with '/' (SynthSewer's "train/000042")
are flattened to '_', so such samples read back with id "train_000042".

Every writer builds the whole dataset in a hidden sibling folder and renames it into place, so
an interrupted run leaves either nothing or a complete dataset; files inside are themselves
written atomically. `out` must not exist or be empty, unless `overwrite=True` (it is replaced).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import yaml

from bench.datasets.base import SPLITS, Dataset, Sample
from bench.datasets.imageio import atomic_write_text, file_stems, write_npy, write_png
from bench.datasets.yolo_format import yolo_label_text
from bench.datasets.sewerml import COLUMNS, LABELS, SPLIT_COLUMN, TRAIN_CSV, VAL_CSV
from bench.errors import ConfigError


@contextmanager
def _staged(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temp folder next to `out`; on success it replaces `out` in one rename."""
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: already exists and is not empty (write elsewhere, or "
                          "overwrite it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield tmp
        if out.exists():
            trash = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            out.rename(trash / "old")
            tmp.rename(out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _all_or_none(split: str, samples: Sequence[Sample], what: str,
                 get: Callable[[Sample], object]) -> bool:
    """True if every sample has `what`, False if none has; mixed is a caller error."""
    have = [get(s) is not None for s in samples]
    if any(have) and not all(have):
        raise ValueError(f"split {split!r}: {what} present on some samples but not all; "
                         "the folder format needs all or none")
    return bool(have) and all(have)


def write_srfolder(dataset: Dataset, out: Path, *, overwrite: bool = False) -> Path:
    """Write `dataset` in the SR folder format (see bench.datasets.srfolder); returns `out`."""
    from bench.degrade import DegradationConfig, degrade, sample_seed  # torch: import lazily

    cfg = DegradationConfig()
    with _staged(out, overwrite) as root:
        for split in SPLITS:
            samples = list(dataset.split(split))
            base = root / split
            (base / "HR").mkdir(parents=True)
            (base / "LR").mkdir()
            has_ref = _all_or_none(split, samples, "refs", lambda s: s.refs or None)
            has_depth = _all_or_none(split, samples, "depth", lambda s: s.depth)
            has_rdepth = has_ref and _all_or_none(split, samples, "ref_depths",
                                                  lambda s: s.ref_depths or None)
            for s, sid in zip(samples, file_stems(samples)):
                write_png(base / "HR" / f"{sid}.png", s.hr)
                lr = s.lr if s.lr is not None else degrade(s.hr, cfg, seed=sample_seed(0, s.id))
                write_png(base / "LR" / f"{sid}.png", lr)
                if has_ref:
                    write_png(base / "Ref" / f"{sid}.png", s.refs[0])
                if has_depth:
                    write_npy(base / "depth" / f"{sid}.npy", np.asarray(s.depth, np.float32))
                if has_rdepth:
                    write_npy(base / "Ref_depth" / f"{sid}.npy",
                              np.asarray(s.ref_depths[0], np.float32))
    return Path(out)


def _coco_json(classes: list[str], samples: Sequence[Sample]) -> dict:
    images, anns = [], []
    for iid, (s, stem) in enumerate(zip(samples, file_stems(samples)), start=1):
        h, w = s.hr.shape[:2]
        images.append({"id": iid, "file_name": f"{stem}.png", "width": int(w), "height": int(h)})
        boxes, labels = s.target.boxes, s.target.box_labels
        if boxes is None:
            continue
        for box, lab in zip(np.asarray(boxes, np.float32), np.asarray(labels, np.int64)):
            x1, y1, x2, y2 = (float(v) for v in box)  # float32 -> float64 exactly
            bw, bh = x2 - x1, y2 - y1  # exact in float64 for float32 operands
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": int(lab),
                         "bbox": [x1, y1, bw, bh], "area": bw * bh, "iscrowd": 0})
    cats = [{"id": k, "name": name, "supercategory": "defect"}
            for k, name in enumerate(classes, start=1)]
    return {"info": {"description": "written by sewer-sr-bench"}, "images": images,
            "annotations": anns, "categories": cats}


def _yolo_txt(sample: Sample) -> str:
    h, w = sample.hr.shape[:2]
    return yolo_label_text(sample.target.boxes, sample.target.box_labels, h, w)


def write_pipe(dataset: Dataset, out: Path, *, overwrite: bool = False) -> Path:
    """Write `dataset` in the Pipe-like format (see bench.datasets.pipe); returns `out`."""
    classes = list(dataset.classes)
    if not classes:
        raise ValueError("write_pipe needs a dataset with at least one class")
    final = Path(out).absolute()
    with _staged(out, overwrite) as root:
        for split in SPLITS:
            samples = list(dataset.split(split))
            (root / "images" / split).mkdir(parents=True)
            has_mask = _all_or_none(split, samples, "mask", lambda s: s.target.mask)
            has_boxes = any(s.target.boxes is not None for s in samples)
            for s, sid in zip(samples, file_stems(samples)):
                write_png(root / "images" / split / f"{sid}.png", s.hr)
                if has_mask:
                    write_png(root / "masks" / split / f"{sid}.png",
                              np.asarray(s.target.mask, np.uint8))
                if has_boxes:
                    text = _yolo_txt(s) if s.target.boxes is not None else ""
                    atomic_write_text(root / "labels" / split / f"{sid}.txt", text)
            if has_boxes:
                atomic_write_text(root / "annotations" / f"instances_{split}.json",
                                  json.dumps(_coco_json(classes, samples)))
        # Absolute `path`: ultralytics resolves relative ones against its own datasets dir.
        data = {"path": str(final), **{s: f"images/{s}" for s in SPLITS},
                "nc": len(classes), "names": dict(enumerate(classes))}
        atomic_write_text(root / "data.yaml", yaml.safe_dump(data, sort_keys=False))
    return Path(out)


def _sewerml_rows(dataset: Dataset, split: str, col_of: list[int]) -> list[dict]:
    rows = []
    samples = list(dataset.split(split))
    for s, stem in zip(samples, file_stems(samples)):
        if s.target.labels is None:
            raise ValueError(f"split {split!r}, sample {s.id!r}: no multi-label vector")
        labels = np.zeros(len(LABELS), np.uint8)
        vec = np.asarray(s.target.labels)
        if vec.shape != (len(col_of),):
            raise ValueError(f"sample {s.id!r}: labels shape {vec.shape}, expected ({len(col_of)},)")
        labels[col_of] = vec != 0
        rows.append({"Filename": f"{stem}.png", "Defect": int(labels.any()), "WaterLevel": 0,
                     **dict(zip(LABELS, labels.tolist())), "_hr": s.hr, "_split": split})
    return rows


def write_sewerml(dataset: Dataset, out: Path, *, overwrite: bool = False) -> Path:
    """Write `dataset` in the Sewer-ML format (see bench.datasets.sewerml); returns `out`.

    The dataset's classes must be Sewer-ML label codes (any subset, any order); absent codes are
    written as 0. WaterLevel is written as 0: Samples carry no water level.
    """
    unknown = [c for c in dataset.classes if c not in LABELS]
    if unknown:
        raise ValueError(f"classes {unknown} are not Sewer-ML labels ({', '.join(LABELS)})")
    col_of = [LABELS.index(c) for c in dataset.classes]
    with _staged(out, overwrite) as root:
        (root / "images").mkdir()
        tables = {TRAIN_CSV: _sewerml_rows(dataset, "train", col_of)
                  + _sewerml_rows(dataset, "val", col_of),
                  VAL_CSV: _sewerml_rows(dataset, "test", col_of)}
        names = [r["Filename"] for rows in tables.values() for r in rows]
        if len(set(names)) != len(names):
            raise ValueError("sample file names repeat across splits; Sewer-ML keeps all "
                             "images in one folder, so ids must be unique")
        for csv_name, rows in tables.items():
            for r in rows:
                write_png(root / "images" / r["Filename"], r["_hr"])
            df = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")}
                               for r in rows], columns=COLUMNS)
            if csv_name == TRAIN_CSV:
                df[SPLIT_COLUMN] = [r["_split"] for r in rows]
            atomic_write_text(root / csv_name, df.to_csv(index=False))
    return Path(out)


WRITERS: dict[str, Callable[..., Path]] = {
    "sr": write_srfolder, "pipe": write_pipe, "cls": write_sewerml,
}
