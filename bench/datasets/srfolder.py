"""SR folder format (the layout of the paper's "Deep Sewer Super-Resolution Dataset", section 5.1).

On disk, for each split in train, val, test::

    ROOT/<split>/HR/<id>.png          RGB, e.g. 448x320 (W x H)
    ROOT/<split>/LR/<id>.png          RGB, exactly HR / scale (scale 4: 112x80)
    ROOT/<split>/Ref/<id>.png         optional folder; RGB reference, same size as HR
    ROOT/<split>/depth/<id>.npy       optional folder; float (H, W) depth of the HR image
    ROOT/<split>/Ref_depth/<id>.npy   optional folder (needs Ref); float (H, W) depth of Ref

HR and LR are required; an optional folder, once present, must hold a file for every HR id.
A split folder that is absent is an empty split. Images may be .png/.jpg/.jpeg; depth is read
as float32 (float16/32/64 accepted, integer dtypes refused: they are usually a mis-saved
8-bit visualisation, not metres).

Loading is eager: `split(name)` decodes and validates the whole split, so a bad file is
reported when the split is opened, not mid-training. Depth must be finite and >= 0. A split
that is read but has no samples is an error. The fingerprint hashes every file's path, size
and content (`imageio.files_fingerprint`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.datasets.base import SPLITS, Sample, CachedSplits
from bench.datasets.imageio import (IMAGE_EXTS, files_fingerprint, list_files, read_npy,
                                    read_rgb)
from bench.errors import DataError

OPTIONAL = ("Ref", "depth", "Ref_depth")


def _read_depth(path: Path, shape: tuple[int, int], what: str) -> np.ndarray:
    depth = read_npy(path)
    if not np.issubdtype(depth.dtype, np.floating):
        raise DataError(path, f"{what} must be a float array, got dtype {depth.dtype}")
    if depth.ndim == 3 and depth.shape[2] == 1:  # (H, W, 1) is a common harmless variant
        depth = depth[..., 0]
    if depth.shape != shape:
        raise DataError(path, f"{what} shape {depth.shape} does not match the image "
                              f"(H, W) = {shape}")
    if not np.isfinite(depth).all():
        raise DataError(path, f"{what} contains non-finite values (NaN or inf); expected "
                              "metres >= 0")
    if depth.size and depth.min() < 0:
        raise DataError(path, f"{what} contains negative values (min {float(depth.min()):g}); "
                              "expected metres >= 0")
    return depth.astype(np.float32, copy=False)


class SRFolderDataset(CachedSplits):
    """Reads the SR folder format. `scale` is the HR/LR factor the LR files must match."""

    name = "srfolder"

    def __init__(self, root: Path, scale: int = 4):
        self.root = Path(root)
        self.scale = int(scale)
        self.classes: list[str] = []  # SR data carries no task labels
        self._cache: dict[str, list[Sample]] = {}
        if not self.root.is_dir():
            raise DataError(self.root, "SR folder root is not a directory")
        if not any((self.root / s / "HR").is_dir() for s in SPLITS):
            raise DataError(self.root, "no <split>/HR folder for any split "
                                       f"({', '.join(SPLITS)}); is this an SR folder dataset?")

    def _files(self, split: str) -> dict[str, dict[str, Path]]:
        """{folder: {id: path}} for the split's folders that exist."""
        base = self.root / split
        found: dict[str, dict[str, Path]] = {}
        if not (base / "HR").is_dir():
            if base.is_dir() and any(base.iterdir()):
                raise DataError(base / "HR", "folder missing (every split needs HR and LR)")
            return found
        if not (base / "LR").is_dir():
            raise DataError(base / "LR", "folder missing (every split needs HR and LR)")
        for folder in ("HR", "LR", *OPTIONAL):
            if (base / folder).is_dir():
                exts = (".npy",) if folder.endswith("depth") else IMAGE_EXTS
                found[folder] = list_files(base / folder, exts)
        if "Ref_depth" in found and "Ref" not in found:
            raise DataError(base / "Ref_depth", "present without a Ref folder")
        hr_ids = set(found["HR"])
        for folder, files in found.items():
            ext = ".npy" if folder.endswith("depth") else ".png"
            for missing in sorted(hr_ids - set(files)):
                raise DataError(base / folder / f"{missing}{ext}",
                                f"missing (HR/{found['HR'][missing].name} has no {folder} file)")
            for orphan in sorted(set(files) - hr_ids):
                raise DataError(files[orphan], f"has no matching HR image in {base / 'HR'}")
        return found

    def _load(self, split: str) -> list[Sample]:
        found = self._files(split)
        samples: list[Sample] = []
        for sid, hr_path in found.get("HR", {}).items():
            hr = read_rgb(hr_path)
            h, w = hr.shape[:2]
            lr_path = found["LR"][sid]
            lr = read_rgb(lr_path)
            if h % self.scale or w % self.scale:
                raise DataError(hr_path, f"HR size {w}x{h} (WxH) is not divisible by the "
                                         f"scale {self.scale}")
            want = (h // self.scale, w // self.scale)
            if lr.shape[:2] != want:
                raise DataError(lr_path, f"LR size {lr.shape[1]}x{lr.shape[0]} (WxH) must be "
                                         f"exactly HR/{self.scale} = {want[1]}x{want[0]}")
            refs: tuple[np.ndarray, ...] = ()
            if "Ref" in found:
                ref = read_rgb(found["Ref"][sid])
                if ref.shape != hr.shape:
                    raise DataError(found["Ref"][sid], f"Ref size {ref.shape[1]}x{ref.shape[0]} "
                                                       f"differs from HR size {w}x{h} (WxH)")
                refs = (ref,)
            depth = (_read_depth(found["depth"][sid], (h, w), "depth")
                     if "depth" in found else None)
            ref_depths = ((_read_depth(found["Ref_depth"][sid], (h, w), "Ref depth"),)
                          if "Ref_depth" in found else ())
            samples.append(Sample(id=sid, hr=hr, lr=lr, refs=refs, depth=depth,
                                  ref_depths=ref_depths))
        return samples

    def validate(self) -> None:
        """Every split folder on disk read now (and kept), so a bad file in any split is
        refused when the data is opened, before a run folder is written."""
        for split in SPLITS:
            if (self.root / split / "HR").is_dir():
                self.split(split)

    def source(self, split: str, sample_id: str) -> Path:
        """The HR file of a sample, for error messages."""
        return self._files(split)["HR"][sample_id]

    def fingerprint(self) -> str:
        files = [p for s in SPLITS for folder in self._files(s).values() for p in folder.values()]
        return files_fingerprint(f"{self.name}|x{self.scale}", self.root, files)
