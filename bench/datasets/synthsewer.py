"""SynthSewer: procedural QV-like sewer images with exact depth, masks, boxes and labels.

Three views of the same generator (geometry: `synth_geometry`, texture and lamp:
`synth_render`, defects: `synth_defects`, scene sampling: `synth_scenes`):

- `SynthSewerSR` ("synthsewer-sr"): HR 448 wide x 320 high, `hr` uint8 (320, 448, 3),
  `depth` float32 (320, 448); sequences of SEQ_LEN frames as the camera advances a random
  0.4-1.2 m per frame; `refs = (next frame,)`, `ref_depths = (its depth,)`. classes = [].
  (LR 112x80 comes from the harness's degradation.)
- `SynthSewerPipe` ("synthsewer-pipe"): 256x256; classes ["JO", "IL", "IN"];
  `target.mask` uint8 index mask (0 background, k = classes[k-1], 255 ignore),
  `target.boxes` float32 (N, 4) xyxy with x2, y2 exclusive (x2 = max_col + 1),
  `target.box_labels` int64 1-based. Each box is the tight box of one 8-connected component
  of its class; components under PIPE_MIN_PIXELS pixels are set to 255 and get no box.
- `SynthSewerCls` ("synthsewer-cls"): 224x224; classes = the 17 Sewer-ML codes in the
  official order; `target.labels` uint8 (17,): 1 iff the class covers >= CLS_MIN_PIXELS
  pixels of the label buffer. About 35% of images are "normal" (no label): 35% of scenes
  are drawn without defects (a drawn defect rarely ends up out of view). Its defects are
  framed closer and larger than the pipe view's, and five codes (RB, OB, RO, BE, AF) are drawn
  only as detail of a few pixels that x4 erases (synth_fine; `SynthSewerCls.placement`,
  generator version "synthsewer-1+cls-3"); the SR and pipe views keep `Placement()`'s
  defaults, so their bytes do not change.
Pipe and Cls samples also carry depth and the next frame as a reference (each sample is a
fresh scene seen from two consecutive camera positions).

Depth (all views) = Euclidean distance along the pixel's ray from the camera centre to the
first surface (wall or water), in metres, clamped at the scene's max_depth (40 m). A camera
advancing along a straight pipe sees the same per-pixel depth, so `ref_depths` equals `depth`
(stored once per shot). Geometry conventions (frames, theta, pixel centres): synth_geometry.

Determinism: unit u of split s (a Pipe/Cls sample, an SR sequence) comes from numpy's
generator seeded with (seed, view, split, u) only, so the same seed gives identical bytes and
splits are disjoint scenes. Each unit is cached in its own file, $SEWER_BENCH_CACHE (default
~/.cache/sewer-sr-bench)/synthsewer/<fingerprint>/<split>/<u:06d>.npz, written atomically as
it is generated; an unreadable file is regenerated. `split()` returns a lazy sequence that
reads one unit at a time, so memory does not grow with the split size.
Arrays are shared between samples (an SR sample's ref is the next sample's hr): read-only use.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.atomic import atomic_path
from bench.datasets.base import SPLITS, Sample, Target
from bench.datasets.synth_annot import boxes_from_mask, index_mask, multilabel
from bench.datasets.synth_defects import LABEL_CODES, PIPE_CODES, SEWER_ML_CODES, Defect
from bench.datasets.synth_geometry import Camera, cast_rays, project_wall_point
from bench.datasets.synth_render import PipeScene, SceneRenderer, render_frame
from bench.datasets.synth_scenes import Placement, Shot, sample_shot
from bench.errors import ConfigError
from bench.paths import cache_root

__all__ = ["SynthSewerSR", "SynthSewerPipe", "SynthSewerCls", "Camera", "PipeScene", "Defect",
           "Shot", "SceneRenderer", "render_frame", "render_sequence", "project_wall_point",
           "cast_rays", "sample_shot", "LABEL_CODES", "PIPE_CODES", "SEWER_ML_CODES"]

GENERATOR_VERSION = "synthsewer-1"
SEQ_LEN = 8  # SR view: samples per sequence (one more frame is rendered as the last ref)
PIPE_MIN_PIXELS = 16
CLS_MIN_PIXELS = 48
_log = logging.getLogger(__name__)


def render_sequence(shot: Shot, n_frames: int) -> list[dict[str, np.ndarray]]:
    """Frames 0..n_frames-1 of a shot (camera at z0 + t * step); see SceneRenderer.render."""
    renderer = SceneRenderer(shot.scene, shot.camera)
    return [renderer.render(shot.camera.z + t * shot.step) for t in range(n_frames)]


def _save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # a file object: np.savez adds no extension


class _SynthView:
    """Shared machinery: seeding, per-unit caching, lazy splits. Subclasses define the units.

    A unit is what one generator call renders: one sample (Pipe, Cls) or one sequence (SR).
    Each unit is cached in its own file, so a split is written while it is generated and read
    one unit at a time: memory does not grow with the split size.
    """

    name = ""
    classes: list[str] = []
    view_id = 0
    width = height = 0
    version = GENERATOR_VERSION  # in the fingerprint: bump a view's own when its bytes change
    placement = Placement()  # where sample_shot puts defects (the default: SR and pipe views)

    def __init__(self, seed: int = 0, n_train: int = 64, n_val: int = 16, n_test: int = 32):
        sizes = {"train": n_train, "val": n_val, "test": n_test}
        for key, v in {"seed": seed, **{f"n_{k}": v for k, v in sizes.items()}}.items():
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{self.name}: {key} must be an integer >= 0, got {v!r}")
        self.seed, self.sizes = int(seed), {k: int(v) for k, v in sizes.items()}
        self.classes = list(type(self).classes)
        self._splits: dict[str, _LazySplit] = {}

    def fingerprint(self) -> str:
        text = json.dumps({"view": self.name, "seed": self.seed, "sizes": self.sizes,
                           "version": self.version}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def unit_path(self, split: str, unit: int) -> Path:
        return cache_root() / "synthsewer" / self.fingerprint() / split / f"{unit:06d}.npz"

    def rng(self, split: str, item: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.view_id, SPLITS.index(split), item])

    def split(self, name: str) -> Sequence[Sample]:
        if name not in SPLITS:
            raise ConfigError(f"{self.name}: unknown split {name!r}; "
                              f"expected one of {', '.join(SPLITS)}")
        if name not in self._splits:
            missing = [u for u in range(self.n_units(name)) if not self.unit_path(name, u).exists()]
            if missing:
                _log.info("generating %s/%s: %d units", self.name, name, len(missing))
            for u in missing:
                self._write(name, u, self.generate_unit(name, u))
            self._splits[name] = _LazySplit(self, name)
        return self._splits[name]

    def load_unit(self, split: str, unit: int) -> dict[str, np.ndarray]:
        """The arrays of one unit, from its cache file (regenerated when unreadable)."""
        path = self.unit_path(split, unit)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            self.check_unit(split, unit, arrays)
            return arrays
        except Exception as exc:  # missing, truncated, corrupt or stale file: rebuild it
            if path.exists():
                _log.warning("regenerating %s: unreadable cache (%s)", path, exc)
        arrays = self.generate_unit(split, unit)
        self._write(split, unit, arrays)
        return arrays

    def _write(self, split: str, unit: int, arrays: dict[str, np.ndarray]) -> None:
        path = self.unit_path(split, unit)
        try:
            _save_atomic(path, arrays)
        except OSError as exc:  # a read-only cache must not stop the benchmark
            _log.warning("could not cache %s: %s", path, exc)

    # --- what a view defines -------------------------------------------------------------
    def n_units(self, split: str) -> int:
        return self.sizes[split]

    def unit_of(self, i: int) -> tuple[int, int]:
        """(unit, position of sample i within it)."""
        return i, 0

    def generate_unit(self, split: str, unit: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def check_unit(self, split: str, unit: int, a: dict[str, np.ndarray]) -> None:
        """Raises ValueError unless `a` has the arrays a sample of this view needs."""
        frames, depth = a["frames"], a["depth"]
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3) \
                or frames.dtype != np.uint8 or len(frames) < 2:
            raise ValueError("bad frames array")
        if depth.shape != frames.shape[1:3] or depth.dtype != np.float32:
            raise ValueError("bad depth array")

    def sample(self, split: str, i: int, a: dict[str, np.ndarray], t: int) -> Sample:
        """Sample i: frame t of its unit, the next frame as its reference (same depth)."""
        d = a["depth"]
        return Sample(id=f"{split}/{i:06d}", hr=a["frames"][t], depth=d, refs=(a["frames"][t + 1],),
                      ref_depths=(d,), target=self.target(a))

    def target(self, a: dict[str, np.ndarray]) -> Target:
        return Target()

    def shot(self, rng: np.random.Generator, codes: list[str]) -> Shot:
        """Pipe/Cls: the scene of one sample (tests re-render it from the same rng)."""
        return sample_shot(rng, self.width, self.height, codes, placement=self.placement)

    def _pair(self, split: str, i: int, codes_of) -> tuple[dict[str, np.ndarray], dict]:
        """Pipe/Cls: one fresh scene per sample, rendered at t and t+1 (the ref)."""
        rng = self.rng(split, i)
        shot = self.shot(rng, codes_of(rng))
        f0, f1 = render_sequence(shot, 2)
        return {"frames": np.stack([f0["rgb"], f1["rgb"]]), "depth": f0["depth"]}, f0


class _LazySplit(Sequence):
    """The samples of one split, read from the unit files on access (the last unit is kept,
    so reading a sequence in order reads each file once)."""

    def __init__(self, view: _SynthView, split: str):
        self.view, self.split, self._last = view, split, (-1, {})

    def __len__(self) -> int:
        return self.view.sizes[self.split]

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.view.name}/{self.split}: index {i} out of range ({n})")
        i = i % n
        unit, t = self.view.unit_of(i)
        if self._last[0] != unit:
            self._last = (unit, self.view.load_unit(self.split, unit))
        return self.view.sample(self.split, i, self._last[1], t)


class SynthSewerSR(_SynthView):
    name, view_id, width, height = "synthsewer-sr", 1, 448, 320
    classes: list[str] = []
    targets: tuple[str, ...] = ()  # the Target fields its samples carry (checked before generating)

    def n_units(self, split: str) -> int:
        return -(-self.sizes[split] // SEQ_LEN)

    def unit_of(self, i: int) -> tuple[int, int]:
        return divmod(i, SEQ_LEN)

    def generate_unit(self, split: str, unit: int) -> dict[str, np.ndarray]:
        """Sequence `unit`: count + 1 frames (the last is only a reference) and their depth."""
        count = min(SEQ_LEN, self.sizes[split] - unit * SEQ_LEN)
        rng = self.rng(split, unit)
        codes = [str(c) for c in rng.choice(LABEL_CODES, size=int(rng.integers(0, 5)))]
        shot = sample_shot(rng, self.width, self.height, codes, n_frames=count + 1)
        frames = render_sequence(shot, count + 1)
        return {"frames": np.stack([f["rgb"] for f in frames]), "depth": frames[-1]["depth"]}

    def check_unit(self, split: str, unit: int, a: dict[str, np.ndarray]) -> None:
        super().check_unit(split, unit, a)
        if len(a["frames"]) != min(SEQ_LEN, self.sizes[split] - unit * SEQ_LEN) + 1:
            raise ValueError("wrong number of frames")


class SynthSewerPipe(_SynthView):
    name, view_id, width, height = "synthsewer-pipe", 2, 256, 256
    targets = ("mask", "boxes")
    classes = list(PIPE_CODES)

    @staticmethod
    def _codes(rng: np.random.Generator) -> list[str]:
        if rng.uniform() < 0.15:
            return []
        return [str(c) for c in rng.choice(PIPE_CODES, size=int(rng.integers(1, 4)))]

    def generate_unit(self, split: str, unit: int) -> dict[str, np.ndarray]:
        arrays, first = self._pair(split, unit, self._codes)
        mask, boxes, labels = boxes_from_mask(index_mask(first["label"], self.classes),
                                              len(self.classes), PIPE_MIN_PIXELS)
        return {**arrays, "mask": mask, "boxes": boxes, "box_labels": labels}

    def check_unit(self, split: str, unit: int, a: dict[str, np.ndarray]) -> None:
        super().check_unit(split, unit, a)
        if (a["mask"].shape != (self.height, self.width) or a["mask"].dtype != np.uint8
                or a["boxes"].shape != (len(a["box_labels"]), 4)):
            raise ValueError("bad annotation arrays")

    def target(self, a: dict[str, np.ndarray]) -> Target:
        return Target(mask=a["mask"], boxes=a["boxes"], box_labels=a["box_labels"])


class SynthSewerCls(_SynthView):
    name, view_id, width, height = "synthsewer-cls", 3, 224, 224
    targets = ("labels",)
    classes = list(SEWER_ML_CODES)
    P_NORMAL = 0.35  # share of scenes drawn without defects (some others show none in view)
    # Sewer-ML images are inspector-chosen frames with the defect in view, and a classifier
    # reads them at 224x224 or less: defects sit 0.8-2 full-view distances ahead (not up to
    # ~5), 1.5x the pipe view's size, and the reference frame is 0.1-0.3 m further on.
    # Measured on 200 images (seed 0): every drawn defect in view covers >= CLS_MIN_PIXELS
    # pixels (was: 19% fewer, labelled absent though visible), median 180-10,000 px per code
    # (was 17-1,400); benchmarks/cls_learnability.py shows what this does to learnability.
    # cls-3: on cls-2 no classifier lost anything at x4 (every class had a coarse cue), so
    # the resolution question had no answer; now RB, OB, RO, BE and AF carry only a texture
    # of ~2.5-px grains (synth_fine) and lose it at LR (docs/tasks.md).
    version = "synthsewer-1+cls-3"
    placement = Placement(z_range=(0.8, 2.0), size_scale=1.5, step=(0.1, 0.3), grain_px=2.5)

    def _codes(self, rng: np.random.Generator) -> list[str]:
        if rng.uniform() < self.P_NORMAL:
            return []
        k = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        return [str(c) for c in rng.choice(SEWER_ML_CODES, size=k, replace=False)]

    def generate_unit(self, split: str, unit: int) -> dict[str, np.ndarray]:
        arrays, first = self._pair(split, unit, self._codes)
        return {**arrays, "labels": multilabel(first["label"], self.classes, CLS_MIN_PIXELS)}

    def check_unit(self, split: str, unit: int, a: dict[str, np.ndarray]) -> None:
        super().check_unit(split, unit, a)
        if a["labels"].shape != (len(self.classes),):
            raise ValueError("bad labels array")

    def target(self, a: dict[str, np.ndarray]) -> Target:
        return Target(labels=a["labels"])
