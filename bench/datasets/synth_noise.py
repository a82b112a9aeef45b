"""Value noise for SynthSewer textures, split into a per-sequence and a per-frame half.

The lattice values come from one fixed random table (built lazily from a constant seed, so
the texture never depends on global random state). A scene picks a random offset into the
table per octave, so scenes differ while the table stays shared. Lookups are gathers, which is
cheaper in numpy than hashing four lattice corners per pixel.

Wall textures are evaluated on (theta, z): theta is the same for every frame of a sequence
(the camera only advances along z), so everything about the first coordinate (lattice
columns, periodic wrap-around of the circumference, interpolation weights) is computed once
per sequence in a `NoiseAxis`; a frame only pays for the z half.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_ROWS, _COLS = 256, 512  # table size; powers of two so wrap-around is a bit-mask
_TABLE_SEED = 0x5E3E5


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    """Flat float32 table of lattice values in [-1, 1]."""
    rng = np.random.default_rng(_TABLE_SEED)
    return rng.uniform(-1.0, 1.0, _ROWS * _COLS).astype(np.float32)


def _smooth(f: np.ndarray) -> np.ndarray:
    return f * f * (3.0 - 2.0 * f)


@dataclass
class NoiseAxis:
    """Precomputed first-coordinate half of a noise lookup (columns + weights)."""

    col0: np.ndarray  # int32 table column of the left lattice point
    col1: np.ndarray  # int32 table column of the right lattice point
    w: np.ndarray  # float32 smoothstep weight of col1


def noise_axis(x: np.ndarray, period: int | None = None, offset: int = 0) -> NoiseAxis:
    """Columns for x in lattice-cell units; `period` wraps the lattice (closed circumference),
    in which case x must lie in [0, period)."""
    x = np.asarray(x, np.float32)
    fx = np.floor(x)
    w = _smooth(x - fx)
    ix = fx.astype(np.int32)
    ix1 = ix + 1
    if period is not None:
        ix1[ix1 >= period] = 0
    mask = _COLS - 1
    return NoiseAxis((ix + offset) & mask, (ix1 + offset) & mask, w)


def noise_eval(axis: NoiseAxis, z: np.ndarray, offset: int = 0) -> np.ndarray:
    """Smooth value noise in [-1, 1] at (axis, z); z in lattice-cell units, float32 out."""
    z = np.asarray(z, np.float32)
    iz = np.floor(z)
    wz = _smooth(z - iz)
    izi = iz.astype(np.int32) + np.int32(offset)
    row0 = (izi & (_ROWS - 1)) * _COLS
    row1 = ((izi + 1) & (_ROWS - 1)) * _COLS
    t = _table()
    a = t.take(row0 + axis.col0)
    b = t.take(row0 + axis.col1)
    c = t.take(row1 + axis.col0)
    d = t.take(row1 + axis.col1)
    top = a + (b - a) * axis.w
    bot = c + (d - c) * axis.w
    return top + (bot - top) * wz


def value_noise(x: np.ndarray, z: np.ndarray, offset: tuple[int, int] = (0, 0),
                period: int | None = None) -> np.ndarray:
    """One-shot noise at (x, z) in lattice-cell units (both halves at once)."""
    return noise_eval(noise_axis(x, period, offset[0]), z, offset[1])


def fade(cell: float, footprint: np.ndarray) -> np.ndarray:
    """Weight of an octave of lattice size `cell` at pixels of size `footprint` (metres).

    1 when a cell spans >= 2 pixels, 0 when it spans <= 1 (it would alias): the standard
    frequency clamping of procedural textures, which is also what makes far regions of a
    frame coarser than the same region seen closer in the next frame.
    """
    return np.clip(cell / np.maximum(footprint, 1e-9) - 1.0, 0.0, 1.0).astype(np.float32)
