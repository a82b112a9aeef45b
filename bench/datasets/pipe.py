"""Pipe-like segmentation / detection folders (image folder + PNG index masks + COCO / YOLO).

On disk, for each split in train, val, test::

    ROOT/images/<split>/<id>.png|.jpg|.jpeg   RGB images
    ROOT/masks/<split>/<id>.png               optional folder; 8-bit index PNG (mode L or P):
                                              0 background, k = k-th class, 255 ignore
    ROOT/annotations/instances_<split>.json   optional; COCO: images {id, file_name, width,
                                              height}, annotations {image_id, category_id,
                                              bbox [x, y, w, h], iscrowd}, categories {id, name}
                                              with category id k == mask index k (ids 1..K)
    ROOT/labels/<split>/<id>.txt              optional; YOLO: one `cls cx cy w h` per line,
                                              normalised to [0, 1], cls 0-based
    ROOT/data.yaml                            optional; YOLO: path, train, val, test, names

Class names come from the COCO categories, else from data.yaml `names` (list or {index: name});
when both exist they must agree. Boxes come from COCO when the split has a JSON, else from YOLO
txt when `labels/<split>` exists (a missing txt = no boxes, as in YOLO), else `boxes` is None.
COCO boxes with iscrowd=1 are skipped (COCO convention). Boxes become Target.boxes float32
xyxy pixels with x2 = x + w computed in float64, and 1-based `box_labels` (YOLO cls + 1).
Boxes must lie inside the image (tolerance BOX_TOL pixels) and have positive size.

Loading is eager and validating: `split(name)` decodes every image and mask (see
`imageio.read_rgb` for which modes are converted and which refused); a split that is read but
has no images is an error. The fingerprint hashes every file's path, size and content
(`imageio.files_fingerprint`), so an edited mask changes it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from bench.datasets.base import SPLITS, Sample, Target, CachedSplits
from bench.datasets.imageio import (IMAGE_EXTS, files_fingerprint, list_files, read_index_png,
                                    read_json, read_rgb)
from bench.errors import DataError
from bench.datasets.yolo_format import yolo_decode

BOX_TOL = 1e-3  # pixels; absorbs float rounding of normalised YOLO coordinates only
Boxes = tuple[np.ndarray, np.ndarray]


def _names_from_yaml(path: Path) -> list[str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:  # its str() spans several lines: keep the problem + line
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise DataError(path, f"invalid YAML{where}: {getattr(exc, 'problem', None) or type(exc).__name__}") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        keys = list(names)
        if set(keys) != set(range(len(keys))):
            raise DataError(path, f"'names' keys must be 0..{len(keys) - 1}, got {keys}")
        names = [names[k] for k in range(len(keys))]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(path, "needs 'names': a list of class names or {index: name}")
    nc = data.get("nc")
    if nc is not None and (not _is_int(nc) or int(nc) != len(names)):
        raise DataError(path, f"nc: {nc!r} disagrees with the {len(names)} names {names}")
    return names


def _is_int(value: object) -> bool:
    """An integer-valued JSON/YAML number (1 or 1.0), not a bool, not 2.9, not "2"."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _category(path: Path, where: str, value: object) -> int:
    if not _is_int(value):
        raise DataError(path, f"{where}: category_id {value!r} is not an integer")
    return int(value)


def _names_from_coco(path: Path, coco: dict) -> list[str]:
    cats = coco.get("categories")
    if not isinstance(cats, list) or not cats:
        raise DataError(path, "COCO 'categories' missing or empty")
    try:
        by_id = {int(c["id"]): str(c["name"]) for c in cats}
    except (KeyError, TypeError, ValueError):
        raise DataError(path, "every COCO category needs an integer 'id' and a 'name'") from None
    if sorted(by_id) != list(range(1, len(by_id) + 1)):
        raise DataError(path, f"category ids must be 1..{len(by_id)} (mask index k == "
                              f"category id k), got {sorted(by_id)}")
    return [by_id[k] for k in range(1, len(by_id) + 1)]


def _check_box(path: Path, where: str, box: np.ndarray, w: int, h: int) -> None:
    x1, y1, x2, y2 = (round(float(v), 4) for v in box)  # rounded for the message only
    if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise DataError(path, f"{where}: degenerate box xyxy={[x1, y1, x2, y2]}")
    if box[0] < -BOX_TOL or box[1] < -BOX_TOL or box[2] > w + BOX_TOL or box[3] > h + BOX_TOL:
        raise DataError(path, f"{where}: box xyxy={[x1, y1, x2, y2]} lies outside the "
                              f"{w}x{h} (WxH) image")


class PipeDataset(CachedSplits):
    """Reads the Pipe-like format; class names and box source are taken from the files."""

    name = "pipe"

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[str, list[Sample]] = {}
        self._coco: dict[str, dict] = {}
        if not (self.root / "images").is_dir():
            raise DataError(self.root / "images", "folder missing (Pipe format needs "
                                                  "images/<split>/<id>.png)")
        names: list[str] | None = None
        for split in SPLITS:
            path = self._coco_path(split)
            if path.is_file():
                coco = read_json(path)
                if not isinstance(coco, dict):
                    raise DataError(path, "COCO file must hold a JSON object")
                self._coco[split] = coco
                these = _names_from_coco(path, coco)
                if names is not None and these != names:
                    raise DataError(path, f"categories {these} differ from another split's {names}")
                names = these
        yaml_path = self.root / "data.yaml"
        if yaml_path.is_file():
            from_yaml = _names_from_yaml(yaml_path)
            if names is not None and from_yaml != names:
                raise DataError(yaml_path, f"names {from_yaml} disagree with the COCO "
                                           f"categories {names}")
            names = from_yaml
        if names is None:
            raise DataError(self.root, "no class names: need annotations/instances_<split>.json "
                                       "(COCO categories) or data.yaml (names)")
        self.classes: list[str] = names

    def _coco_path(self, split: str) -> Path:
        return self.root / "annotations" / f"instances_{split}.json"

    def _listing(self, split: str) -> tuple[dict[str, Path], dict[str, Path] | None]:
        img_dir, mask_dir = self.root / "images" / split, self.root / "masks" / split
        images = list_files(img_dir, IMAGE_EXTS) if img_dir.is_dir() else {}
        if not mask_dir.is_dir():
            return images, None
        masks = list_files(mask_dir, (".png",))
        for sid in images:
            if sid not in masks:
                raise DataError(mask_dir / f"{sid}.png", f"missing (image {images[sid].name} "
                                                         "has no mask)")
        for sid in sorted(set(masks) - set(images)):
            raise DataError(masks[sid], f"has no matching image in {img_dir}")
        return images, masks

    def _coco_boxes(self, split: str, images: dict[str, Path],
                    sizes: dict[str, tuple[int, int]]) -> dict[str, Boxes]:
        path, coco = self._coco_path(split), self._coco[split]
        if not isinstance(coco.get("images"), list) or not isinstance(coco.get("annotations"), list):
            raise DataError(path, "COCO file needs 'images' and 'annotations' lists")
        by_img: dict[int, str] = {}
        for entry in coco["images"]:
            try:
                iid, fname = int(entry["id"]), str(entry["file_name"])
                ew, eh = int(entry["width"]), int(entry["height"])
            except (KeyError, TypeError, ValueError):
                raise DataError(path, f"image entry {entry!r} needs id, file_name, width, height") from None
            sid = Path(fname).stem
            if iid in by_img or sid in by_img.values():
                raise DataError(path, f"image id {iid} ({fname}): listed twice in 'images' "
                                      "(ids and file names must be unique)")
            if sid not in images or images[sid].name != Path(fname).name:
                raise DataError(self.root / "images" / split / Path(fname).name,
                                f"missing (listed in {path.name} as image id {iid})")
            if sizes[sid] != (ew, eh):
                raise DataError(path, f"image id {iid} ({fname}): width/height {ew}x{eh} differ "
                                      f"from the file's {sizes[sid][0]}x{sizes[sid][1]}")
            by_img[iid] = sid
        for sid in sorted(set(images) - set(by_img.values())):
            raise DataError(images[sid], f"not listed in the 'images' of {path}")
        acc: dict[str, tuple[list, list]] = {sid: ([], []) for sid in images}
        for ann in coco["annotations"]:
            try:
                aid, iid, cat = ann.get("id", "?"), int(ann["image_id"]), ann["category_id"]
                x, y, bw, bh = (float(v) for v in ann["bbox"])
            except (KeyError, TypeError, ValueError, AttributeError):
                raise DataError(path, f"annotation {ann.get('id', '?')!r} needs image_id, "
                                      "category_id and bbox [x, y, w, h]") from None
            if ann.get("iscrowd", 0):
                continue
            where = f"annotation id {aid}"
            cat = _category(path, where, cat)
            if iid not in by_img:
                raise DataError(path, f"{where}: unknown image_id {iid}")
            if not 1 <= cat <= len(self.classes):
                raise DataError(path, f"{where}: category_id {cat} not in 1..{len(self.classes)}")
            sid = by_img[iid]
            box = np.array([x, y, x + bw, y + bh], dtype=np.float64)  # exact for float32 inputs
            _check_box(path, f"{where} (image {images[sid].name})", box, *sizes[sid])
            acc[sid][0].append(box)
            acc[sid][1].append(cat)
        return {sid: (np.array(b, np.float32).reshape(-1, 4), np.array(l, np.int64))
                for sid, (b, l) in acc.items()}

    def _yolo_boxes(self, split: str, images: dict[str, Path],
                    sizes: dict[str, tuple[int, int]]) -> dict[str, Boxes]:
        out: dict[str, Boxes] = {}
        k = len(self.classes)
        label_dir = self.root / "labels" / split
        for stray in sorted(set(list_files(label_dir, (".txt",))) - set(images)):
            raise DataError(label_dir / f"{stray}.txt", f"matches no image in "
                                                        f"{self.root / 'images' / split}")
        for sid in images:
            path = self.root / "labels" / split / f"{sid}.txt"
            boxes, labels = [], []
            try:
                lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
            except (OSError, UnicodeDecodeError) as exc:
                raise DataError(path, f"cannot read YOLO labels: {exc}") from None
            w, h = sizes[sid]
            for lineno, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                parts = line.split()
                try:
                    if len(parts) != 5:
                        raise ValueError
                    cls = int(parts[0])
                    cx, cy, bw, bh = (float(v) for v in parts[1:])
                except ValueError:
                    raise DataError(path, f"line {lineno}: expected 'cls cx cy w h', "
                                          f"got {line.strip()!r}") from None
                if not 0 <= cls < k:
                    raise DataError(path, f"line {lineno}: class {cls} not in 0..{k - 1}")
                (x1, x2), (y1, y2) = yolo_decode(cx, bw, w), yolo_decode(cy, bh, h)
                box = np.array([x1, y1, x2, y2], dtype=np.float64)
                _check_box(path, f"line {lineno}", box, w, h)
                boxes.append(box)
                labels.append(cls + 1)
            out[sid] = (np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64))
        return out

    def _load(self, split: str) -> list[Sample]:
        images, masks = self._listing(split)
        hrs = {sid: read_rgb(p) for sid, p in images.items()}
        sizes = {sid: (img.shape[1], img.shape[0]) for sid, img in hrs.items()}  # (W, H)
        if split in self._coco:
            boxes: dict[str, Boxes] | None = self._coco_boxes(split, images, sizes)
        elif (self.root / "labels" / split).is_dir():
            boxes = self._yolo_boxes(split, images, sizes)
        else:
            boxes = None
        samples = []
        for sid, hr in hrs.items():
            mask = None
            if masks is not None:
                mask = read_index_png(masks[sid])
                if mask.shape != hr.shape[:2]:
                    raise DataError(masks[sid], f"mask size {mask.shape[1]}x{mask.shape[0]} "
                                                f"differs from image size {hr.shape[1]}x{hr.shape[0]}")
                bad = np.unique(mask[(mask > len(self.classes)) & (mask != 255)])
                if bad.size:
                    raise DataError(masks[sid], f"mask values {bad.tolist()} exceed the "
                                                f"{len(self.classes)} classes (and are not 255)")
            b, lab = boxes[sid] if boxes is not None else (None, None)
            samples.append(Sample(id=sid, hr=hr, target=Target(mask=mask, boxes=b, box_labels=lab)))
        return samples

    def validate(self) -> None:
        """Read every split on disk now (and keep it), so a bad file in any split is refused
        when the data is opened, before a run folder or cache entry is written."""
        for split in SPLITS:
            if (self.root / "images" / split).is_dir():
                self.split(split)

    def source(self, split: str, sample_id: str) -> Path:
        """The image file of a sample, for error messages."""
        return self._listing(split)[0][sample_id]

    def _files(self) -> list[Path]:
        return [p for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".")
                and p.relative_to(self.root).parts[0] in ("images", "masks", "annotations",
                                                          "labels", "data.yaml")]

    def fingerprint(self) -> str:
        return files_fingerprint(self.name, self.root, self._files(), self._digests())

    def training_fingerprint(self) -> str:
        """The files a task model learns from: the train and val splits (images, masks,
        labels, their COCO files) and data.yaml; editing the test split leaves it as is."""
        def training(p: Path) -> bool:
            parts = p.relative_to(self.root).parts
            if parts[0] == "annotations":
                return p.name in ("instances_train.json", "instances_val.json")
            return parts[0] == "data.yaml" or (len(parts) > 2 and parts[1] in ("train", "val"))
        return files_fingerprint(f"{self.name}-train", self.root,
                                 [p for p in self._files() if training(p)], self._digests())

    def _digests(self) -> dict[Path, str]:
        return self.__dict__.setdefault("_digest_memo", {})
