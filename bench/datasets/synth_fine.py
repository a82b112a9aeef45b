"""Fine-detail drawings of SynthSewer defects: structure that a x4 degradation erases.

Map cracking, root mats, pitting, crust nodules and gravel are, in real CCTV footage, detail
of a few pixels that a x4 degradation removes. A defect with a `Grain` (the classification
view gives every defect one: Placement.grain_px) whose code is in FINE_DRAW is drawn here
instead of by synth_defects, and its *only* cue is such detail: a texture of WAVELENGTH grains
(about 4.5 px at HR) inside a ragged blob that keeps the wall's mean displayed tone, with no
coarse cue (no hole, no root mass, no colour of its own). Each code has its own texture
(stripes, a crossing grid, dark or light spots, grit), so at HR they are told apart. After
the harness's x4 bicubic degradation what is left is a faint tint at most
(tests/test_synth_fine.py measures both). The grain is fixed on the wall (Grain.coords), so the
reference frame shows the same texture at the same place.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from bench.datasets.synth_defects import Defect, Patch, _blob_sd


def _grain_coords(d: Defect, p: Patch) -> tuple[np.ndarray, np.ndarray]:
    """Texture coordinates (grains) of each pixel of the patch (Grain.coords)."""
    assert d.grain is not None
    return d.grain.coords(p.radius, d.theta + p.s / p.radius, d.z + p.z)


WAVELENGTH = 1.8  # grains: with Placement.grain_px = 2.5 a period of ~4.5 px at HR


def _texture(d: Defect, p: Patch, rng, radius: float, amp: float,
             pattern: Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]) -> None:
    """Modulate the wall's albedo inside a ragged blob by amp * pattern (zero-mean, values
    about in [-1, 1]) of the texture coordinates (x, y) (Grain.coords), and label the blob. The
    pattern is a sum of plane waves of WAVELENGTH grains (no harmonics: a sharper profile
    would alias into coarse moire when sampled at pixel centres), so the blob keeps the wall's
    mean tone and at a quarter of the resolution next to nothing of it is left."""
    sd = _blob_sd(p, radius, rng, 0.15)  # ragged by <= 1.28 radius: inside extent()
    x, y = _grain_coords(d, p)
    inside = np.clip(0.5 - sd / p.fp, 0.0, 1.0)
    mod = np.maximum(1.0 + amp * pattern(x, y, rng) * inside, 0.02)
    core = inside > 0.5
    if core.any():  # keep the mean *displayed* tone: the camera's tone curve is ~ x^(1/2.2)
        wall = p.alb[:, core]  # and albedo clips at 1, so a symmetric `mod` would darken
        target, gain = float(np.mean(wall ** (1 / 2.2))), 1.0
        for _ in range(4):
            now = float(np.mean(np.clip(wall * (mod[core] * gain), 0, 1) ** (1 / 2.2)))
            gain *= (target / max(now, 1e-6)) ** 2.2
        mod *= gain ** inside
    p.alb *= mod[None, :].astype(np.float32)
    np.clip(p.alb, 0.0, 1.0, out=p.alb)
    p.label |= sd < 0


def _waves(x, y, angles, phases) -> list[np.ndarray]:
    k = 2 * np.pi / WAVELENGTH
    return [np.cos(k * (x * np.cos(a) + y * np.sin(a)) + ph) for a, ph in zip(angles, phases)]


def _star(x, y, rng, n: int) -> np.ndarray:
    """n waves pi/n apart, random orientation and phases, scaled to about [-1, 1]: n = 3 a
    hexagonal lattice of round spots (positive peaks), n = 4 a quasi-periodic grit."""
    a = rng.uniform(0, np.pi)
    w = _waves(x, y, [a + i * np.pi / n for i in range(n)], rng.uniform(0, 2 * np.pi, n))
    return sum(w) / (n / 2)


def _pits(x, y, rng) -> np.ndarray:  # a lattice of dark round pits
    return -_star(x, y, rng, 3)


def _nodules(x, y, rng) -> np.ndarray:  # a lattice of light crust nodules
    return _star(x, y, rng, 3)


def _grit(x, y, rng) -> np.ndarray:  # gravel and sand grains: no lattice
    return _star(x, y, rng, 4)


def _crazing(x, y, rng) -> np.ndarray:  # map cracking: two crossing sets of dark seams
    a = rng.uniform(0, np.pi)
    w = _waves(x + 0.4 * np.sin(0.7 * y), y, (a, a + rng.uniform(1.0, 1.4)),
               rng.uniform(0, 2 * np.pi, 2))
    return (w[0] + w[1]) / 2


def _fibres(x, y, rng) -> np.ndarray:  # a mat of root hairs: wavy stripes one way
    a = rng.uniform(0, np.pi)
    bend = 0.6 * np.sin(0.5 * (x * np.sin(a) - y * np.cos(a)) + rng.uniform(0, 2 * np.pi))
    return _waves(x + bend * np.cos(a + np.pi / 2), y + bend * np.sin(a + np.pi / 2), (a,),
                  rng.uniform(0, 2 * np.pi, 1))[0]


def _map_cracking(d: Defect, p: Patch, rng) -> None:  # RB: fine crack network (crazing)
    _texture(d, p, rng, d.size, 1.0, _crazing)


def _pitting(d: Defect, p: Patch, rng) -> None:  # OB: pitted surface, exposed aggregate
    _texture(d, p, rng, 1.3 * d.size, 0.9, _pits)


def _root_mat(d: Defect, p: Patch, rng) -> None:  # RO: a mat of thin roots through a joint
    _texture(d, p, rng, d.size, 0.9, _fibres)


def _encrustation(d: Defect, p: Patch, rng) -> None:  # BE: crust of small nodules
    _texture(d, p, rng, d.size, 0.9, _nodules)


def _gravel(d: Defect, p: Patch, rng) -> None:  # AF: a bank of fine gravel along the invert
    _texture(d, p, rng, d.size, 0.9, _grit)


FINE_DRAW: dict[str, Callable[[Defect, Patch, np.random.Generator], None]] = {
    "RB": _map_cracking, "OB": _pitting, "RO": _root_mat, "BE": _encrustation, "AF": _gravel,
}


def draw(d: Defect, p: Patch) -> bool:
    """Draw `d` in fine detail when it has a grain and its code a fine drawing; False if not."""
    fn = FINE_DRAW.get(d.code) if d.grain is not None else None
    if fn is None:
        return False
    fn(d, p, np.random.default_rng(d.seed))
    return True
