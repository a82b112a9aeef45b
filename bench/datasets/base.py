"""The dataset interface: every format module yields `Sample`s split by name.

Conventions (shared by every loader and by SynthSewer):
- `hr`: uint8 RGB array, shape (H, W, 3).
- `depth`: float32 array (H, W), metres along the ray (None when the format has none).
- `refs`: reference images (uint8 (H, W, 3), same size as `hr`), e.g. the next frame.
- `ref_depths`: depth of each reference (float32 (H, W)), or () when unknown.
- `lr`: uint8 (h, w, 3) low-resolution input when the format carries its own (SR folder
  format); None means "degrade `hr` with the configured operator".
- `target`: task annotations, a `Target` (fields are None when the view has none).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass
class Target:
    """Annotations of one image.

    mask: uint8 (H, W) index mask; 0 = background, k = classes[k-1], 255 = ignore.
    boxes: float32 (N, 4) xyxy in pixels; box_labels: int64 (N,), 1-based class indices.
    labels: uint8 (C,) multi-label vector over the dataset's classes (classification).
    """

    mask: np.ndarray | None = None
    boxes: np.ndarray | None = None
    box_labels: np.ndarray | None = None
    labels: np.ndarray | None = None


@dataclass
class Sample:
    id: str
    hr: np.ndarray
    target: Target = field(default_factory=Target)
    depth: np.ndarray | None = None
    refs: tuple[np.ndarray, ...] = ()
    ref_depths: tuple[np.ndarray, ...] = ()
    lr: np.ndarray | None = None


class Dataset(Protocol):
    """What the runner needs of a dataset: a name, its class list and its splits."""

    name: str
    classes: list[str]  # foreground classes (segmentation/detection) or labels (classification)

    def split(self, name: str) -> Sequence[Sample]:
        """The samples of split `name` (one of SPLITS); may be lazily loaded."""
        ...

    def fingerprint(self) -> str:
        """Hash of everything that determines the data (seed + params, or file contents)."""
        ...


class CachedSplits:
    """Mixin for folder datasets: `split(name)` validates the name, loads once, then caches.

    Subclasses implement `_load(name)`; loading validates every file, so errors surface when
    the split is opened rather than deep inside training. A split that is asked for and has
    no samples is an error (a run would otherwise store all-NaN metrics as finished).
    """

    _cache: dict[str, Sequence[Sample]]

    def _load(self, name: str) -> Sequence[Sample]:
        raise NotImplementedError

    def split(self, name: str) -> Sequence[Sample]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        cache = self.__dict__.setdefault("_cache", {})
        if name not in cache:
            samples = self._load(name)
            if len(samples) == 0:  # all-NaN metrics stored as "done" otherwise
                from bench.errors import DataError

                raise DataError(getattr(self, "root", self.name),
                                f"the {name!r} split has no samples")
            cache[name] = samples
        return cache[name]
