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
  pixels of the label buffer. About 40% of images are "normal" (no label): 35% of scenes
  are drawn without defects, and some drawn defects end up out of view or too small.
Pipe and Cls samples also carry depth and the next frame as a reference (each sample is a
fresh scene seen from two consecutive camera positions).

Depth (all views) = Euclidean distance along the pixel's ray from the camera centre to the
first surface (wall or water), in metres, clamped at the scene's max_depth (40 m). A camera
advancing along a straight pipe sees the same per-pixel depth, so `ref_depths` equals `depth`
(stored once per shot). Geometry conventions (frames, theta, pixel centres): synth_geometry.

Determinism: item i of split s comes from numpy's generator seeded with (seed, view, split, i)
only, so the same seed gives identical bytes and splits are disjoint scenes. Generated
splits are cached as $SEWER_BENCH_CACHE (default ~/.cache/sewer-sr-bench)
/synthsewer/<fingerprint>/<split>.npz, written atomically; an unreadable file is regenerated.
Arrays are shared between samples (an SR sample's ref is the next sample's hr): read-only use.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.atomic import atomic_path
from bench.datasets.base import SPLITS, Sample, Target
from bench.datasets.synth_annot import boxes_from_mask, index_mask, multilabel
from bench.datasets.synth_defects import LABEL_CODES, PIPE_CODES, SEWER_ML_CODES, Defect
from bench.datasets.synth_geometry import Camera, cast_rays, project_wall_point
from bench.datasets.synth_render import PipeScene, SceneRenderer, render_frame
from bench.datasets.synth_scenes import Shot, sample_shot
from bench.errors import ConfigError

__all__ = ["SynthSewerSR", "SynthSewerPipe", "SynthSewerCls", "Camera", "PipeScene", "Defect",
           "Shot", "SceneRenderer", "render_frame", "render_sequence", "project_wall_point",
           "cast_rays", "sample_shot", "LABEL_CODES", "PIPE_CODES", "SEWER_ML_CODES"]

GENERATOR_VERSION = "synthsewer-1"
SEQ_LEN = 8  # SR view: samples per sequence (one more frame is rendered as the last ref)
PIPE_MIN_PIXELS = 16
CLS_MIN_PIXELS = 48
_log = logging.getLogger(__name__)


def cache_root() -> Path:
    return Path(os.environ.get("SEWER_BENCH_CACHE", "~/.cache/sewer-sr-bench")).expanduser()


def render_sequence(shot: Shot, n_frames: int) -> list[dict[str, np.ndarray]]:
    """Frames 0..n_frames-1 of a shot (camera at z0 + t * step); see SceneRenderer.render."""
    renderer = SceneRenderer(shot.scene, shot.camera)
    return [renderer.render(shot.camera.z + t * shot.step) for t in range(n_frames)]


def _save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # a file object: np.savez adds no extension


class _SynthView:
    """Shared machinery: seeding, caching, splitting. Subclasses define the frames."""

    name = ""
    classes: list[str] = []
    view_id = 0
    width = height = 0
    # frames[i] has depth depths[frame_depth[i]]: frames of one shot share their depth map.
    keys: tuple[str, ...] = ("frames", "depths", "frame_depth", "hr_idx", "ref_idx")

    def __init__(self, seed: int = 0, n_train: int = 64, n_val: int = 16, n_test: int = 32):
        sizes = {"train": n_train, "val": n_val, "test": n_test}
        for key, v in {"seed": seed, **{f"n_{k}": v for k, v in sizes.items()}}.items():
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{self.name}: {key} must be an integer >= 0, got {v!r}")
        self.seed, self.sizes = int(seed), {k: int(v) for k, v in sizes.items()}
        self.classes = list(type(self).classes)
        self._splits: dict[str, list[Sample]] = {}

    def fingerprint(self) -> str:
        text = json.dumps({"view": self.name, "seed": self.seed, "sizes": self.sizes,
                           "version": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def cache_path(self, split: str) -> Path:
        return cache_root() / "synthsewer" / self.fingerprint() / f"{split}.npz"

    def rng(self, split: str, item: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.view_id, SPLITS.index(split), item])

    def split(self, name: str) -> Sequence[Sample]:
        if name not in SPLITS:
            raise ConfigError(f"{self.name}: unknown split {name!r}; "
                              f"expected one of {', '.join(SPLITS)}")
        if name not in self._splits:
            self._splits[name] = self._samples(name, self._load_or_generate(name))
        return self._splits[name]

    def _load_or_generate(self, split: str) -> dict[str, np.ndarray]:
        path = self.cache_path(split)
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in self.keys}
                self._check(split, arrays)
                return arrays
            except Exception as exc:  # truncated, corrupt or stale file: rebuild it
                _log.warning("regenerating %s: unreadable cache (%s)", path, exc)
        arrays = self.generate(split)
        try:
            _save_atomic(path, arrays)
        except OSError as exc:  # a read-only cache must not stop the benchmark
            _log.warning("could not cache %s: %s", path, exc)
        return arrays

    def _check(self, split: str, a: dict[str, np.ndarray]) -> None:
        n = self.sizes[split]
        if a["hr_idx"].shape != (n,) or a["ref_idx"].shape != (n,):
            raise ValueError(f"expected {n} samples")
        if a["frames"].shape[1:] != (self.height, self.width, 3) or a["frames"].dtype != np.uint8:
            raise ValueError("bad frames array")
        if (a["depths"].shape[1:] != a["frames"].shape[1:3]
                or a["frame_depth"].shape != (len(a["frames"]),)):
            raise ValueError("bad depths array")
        if n and (max(a["hr_idx"].max(), a["ref_idx"].max()) >= len(a["frames"])
                  or a["frame_depth"].max() >= len(a["depths"])):
            raise ValueError("index out of range")

    def _pairs(self, split: str, codes_of) -> tuple[dict[str, np.ndarray], list[dict]]:
        """Pipe/Cls: one fresh scene per sample, rendered at t and t+1 (the ref)."""
        n = self.sizes[split]
        frames = np.zeros((2 * n, self.height, self.width, 3), np.uint8)
        depths = np.zeros((n, self.height, self.width), np.float32)
        first = []
        for i in range(n):
            rng = self.rng(split, i)
            shot = sample_shot(rng, self.width, self.height, codes_of(rng))
            f0, f1 = render_sequence(shot, 2)
            frames[2 * i], frames[2 * i + 1], depths[i] = f0["rgb"], f1["rgb"], f0["depth"]
            first.append(f0)
        idx = np.arange(n, dtype=np.int64) * 2
        return {"frames": frames, "depths": depths, "frame_depth": np.repeat(idx // 2, 2),
                "hr_idx": idx, "ref_idx": idx + 1}, first

    def generate(self, split: str) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _target(self, a: dict[str, np.ndarray], i: int) -> Target:
        return Target()

    def _samples(self, split: str, a: dict[str, np.ndarray]) -> list[Sample]:
        out = []
        for i in range(self.sizes[split]):
            h, r = int(a["hr_idx"][i]), int(a["ref_idx"][i])
            dh, dr = a["depths"][a["frame_depth"][h]], a["depths"][a["frame_depth"][r]]
            out.append(Sample(id=f"{split}/{i:06d}", hr=a["frames"][h], depth=dh,
                              refs=(a["frames"][r],), ref_depths=(dr,), target=self._target(a, i)))
        return out


class SynthSewerSR(_SynthView):
    name, view_id, width, height = "synthsewer-sr", 1, 448, 320
    classes: list[str] = []

    def generate(self, split: str) -> dict[str, np.ndarray]:
        n = self.sizes[split]
        n_seq = -(-n // SEQ_LEN)
        frames = np.zeros((n + n_seq, self.height, self.width, 3), np.uint8)
        depths = np.zeros((n_seq, self.height, self.width), np.float32)
        frame_depth = np.zeros(n + n_seq, np.int64)
        hr_idx = np.zeros(n, np.int64)
        pos = 0
        for s in range(n_seq):
            count = min(SEQ_LEN, n - s * SEQ_LEN)
            rng = self.rng(split, s)
            codes = [str(c) for c in rng.choice(LABEL_CODES, size=int(rng.integers(0, 5)))]
            shot = sample_shot(rng, self.width, self.height, codes, n_frames=count + 1)
            for t, f in enumerate(render_sequence(shot, count + 1)):
                frames[pos + t] = f["rgb"]
            depths[s], frame_depth[pos: pos + count + 1] = f["depth"], s
            hr_idx[s * SEQ_LEN: s * SEQ_LEN + count] = pos + np.arange(count)
            pos += count + 1
        return {"frames": frames, "depths": depths, "frame_depth": frame_depth,
                "hr_idx": hr_idx, "ref_idx": hr_idx + 1}


class SynthSewerPipe(_SynthView):
    name, view_id, width, height = "synthsewer-pipe", 2, 256, 256
    classes = list(PIPE_CODES)
    keys = _SynthView.keys + ("masks", "boxes", "box_labels", "box_counts")

    @staticmethod
    def _codes(rng: np.random.Generator) -> list[str]:
        if rng.uniform() < 0.15:
            return []
        return [str(c) for c in rng.choice(PIPE_CODES, size=int(rng.integers(1, 4)))]

    def generate(self, split: str) -> dict[str, np.ndarray]:
        arrays, first = self._pairs(split, self._codes)
        masks, boxes, labels, counts = [], [], [], []
        for f in first:
            mask, b, lab = boxes_from_mask(index_mask(f["label"], self.classes),
                                           len(self.classes), PIPE_MIN_PIXELS)
            masks.append(mask)
            boxes.append(b)
            labels.append(lab)
            counts.append(len(b))
        n = len(first)
        arrays["masks"] = np.stack(masks) if n else np.zeros((0, self.height, self.width), np.uint8)
        arrays["boxes"] = np.concatenate(boxes) if n else np.zeros((0, 4), np.float32)
        arrays["box_labels"] = np.concatenate(labels) if n else np.zeros(0, np.int64)
        arrays["box_counts"] = np.asarray(counts, np.int64)
        return arrays

    def _check(self, split: str, a: dict[str, np.ndarray]) -> None:
        super()._check(split, a)
        if (a["masks"].shape != (self.sizes[split], self.height, self.width)
                or a["box_counts"].sum() != len(a["boxes"]) or len(a["boxes"]) != len(a["box_labels"])):
            raise ValueError("bad annotation arrays")

    def _target(self, a: dict[str, np.ndarray], i: int) -> Target:
        if "_offsets" not in a:
            a["_offsets"] = np.concatenate([[0], np.cumsum(a["box_counts"])])
        lo, hi = a["_offsets"][i], a["_offsets"][i + 1]
        return Target(mask=a["masks"][i], boxes=a["boxes"][lo:hi], box_labels=a["box_labels"][lo:hi])


class SynthSewerCls(_SynthView):
    name, view_id, width, height = "synthsewer-cls", 3, 224, 224
    classes = list(SEWER_ML_CODES)
    keys = _SynthView.keys + ("labels",)
    P_NORMAL = 0.35  # share of scenes drawn without defects (some others show none in view)

    def _codes(self, rng: np.random.Generator) -> list[str]:
        if rng.uniform() < self.P_NORMAL:
            return []
        k = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        return [str(c) for c in rng.choice(SEWER_ML_CODES, size=k, replace=False)]

    def generate(self, split: str) -> dict[str, np.ndarray]:
        arrays, first = self._pairs(split, self._codes)
        lab = [multilabel(f["label"], self.classes, CLS_MIN_PIXELS) for f in first]
        arrays["labels"] = np.stack(lab) if lab else np.zeros((0, len(self.classes)), np.uint8)
        return arrays

    def _check(self, split: str, a: dict[str, np.ndarray]) -> None:
        super()._check(split, a)
        if a["labels"].shape != (self.sizes[split], len(self.classes)):
            raise ValueError("bad labels array")

    def _target(self, a: dict[str, np.ndarray], i: int) -> Target:
        return Target(labels=a["labels"][i])
