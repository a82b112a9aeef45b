"""SynthSewer defects: procedural decals in wall coordinates with an exact label footprint.

A defect is a `Defect(code, theta, z, size, seed)`: a centre on the wall, a scale in metres
and a seed for its shape. It is drawn onto a `Patch` (the wall pixels near it, with their
arc-length offset `s` = R * wrap(theta - theta0) and axial offset `z` from the centre), which
it paints (albedo) and marks (label). Everything is a function of (s, z) and the defect's seed,
so the same defect looks and is labelled the same in every frame of a sequence.

Label rule: a pixel is marked iff the wall point hit by its centre ray lies inside the
defect's footprint; thin lines are widened to half a pixel footprint (and faded by the same
factor) so far cracks stay 1 px wide and labelled instead of vanishing between samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench.datasets.synth_geometry import Camera, project_wall_point
from bench.datasets.synth_noise import fade, value_noise

SEWER_ML_CODES = ("RB", "OB", "PF", "DE", "FS", "IS", "RO", "IN", "AF", "BE", "FO", "GR",
                  "PH", "PB", "OS", "OP", "OK")
PIPE_CODES = ("JO", "IL", "IN")
# Label buffer values: 0 = no defect, k = LABEL_CODES[k - 1].
LABEL_CODES = SEWER_ML_CODES + ("JO", "IL")
LABEL_ID = {c: i + 1 for i, c in enumerate(LABEL_CODES)}
CONNECTIONS = ("GR", "PH", "PB", "OS", "OP", "OK")  # openings: placed on the side walls
AT_JOINT = ("JO", "FS", "IS", "RO")  # centred on a pipe joint by the scene sampler

HOLE = np.array([0.015, 0.013, 0.012], np.float32)  # inside an opening: no light comes back


@dataclass(frozen=True)
class Grain:
    """Scale of a defect's fine detail (synth_fine): `px` pixels of the image of `eye`, the
    shot's first camera. Texture coordinates are the eye's image coordinates over px, so the
    texture is fixed on the wall (every frame shows the same detail at the same place) and in
    the first frame a grain spans px pixels everywhere, whatever the distance, the grazing
    angle or the lens. (Coordinates in metres scaled by a local footprint would not do: the
    scale varies across a defect, and the phase of a wave in them chirps into coarse bands.)"""

    px: float
    eye: Camera

    def coords(self, radius: float, theta, z) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in grains of wall point(s) (theta, z); 0 where behind the eye."""
        u, v = project_wall_point(self.eye, radius, theta, z)
        return np.nan_to_num(u / self.px), np.nan_to_num(v / self.px)


@dataclass(frozen=True)
class Defect:
    code: str
    theta: float  # centre angle (rad, 0 = invert)
    z: float  # centre along the pipe (m)
    size: float  # characteristic radius (m)
    seed: int
    grain: Grain | None = None  # set: drawn by synth_fine where it has the code


@dataclass
class Patch:
    """Wall pixels near one defect, in the defect's local frame (all arrays length n)."""

    s: np.ndarray  # arc-length offset from the centre (m)
    z: np.ndarray  # axial offset from the centre (m)
    fp: np.ndarray  # pixel footprint (m)
    alb: np.ndarray  # (3, n) albedo, channel-planar (numpy is slow on a trailing axis of 3)
    label: np.ndarray  # bool, marked in place
    radius: float
    base: np.ndarray  # (3,) wall base colour of the scene

    def paint(self, alpha: np.ndarray, color) -> None:
        """Blend towards `color`: (3,) constant or (3, n) per pixel."""
        color = np.asarray(color, np.float32)
        self.alb += ((color[:, None] if color.ndim == 1 else color) - self.alb) * alpha

    def area(self, sd: np.ndarray, color, mark: bool = True) -> np.ndarray:
        """Fill where the signed distance sd < 0 (anti-aliased over one footprint)."""
        alpha = np.clip(0.5 - sd / self.fp, 0.0, 1.0)
        self.paint(alpha, color)
        if mark:
            self.label |= sd < 0
        return alpha

    def line(self, dist: np.ndarray, hw, color, mark: bool = True) -> None:
        """Stroke of half-width hw at distance `dist`; widened to >= half a pixel, faded."""
        hw_eff = np.maximum(hw, 0.5 * self.fp)
        sd = dist - hw_eff
        self.paint(np.clip(0.5 - sd / self.fp, 0.0, 1.0) * (hw / hw_eff), color)
        if mark:
            self.label |= sd < 0

    def speckle(self, cell: float, seed: int) -> np.ndarray:
        """Fine noise in [-1, 1] on the defect, faded where a pixel is coarser than a cell."""
        off = (seed % 997, (seed // 997) % 991)
        return value_noise(self.s / cell, self.z / cell, off) * fade(cell, self.fp)


def _tint(color, factor: np.ndarray) -> np.ndarray:
    """Per-pixel colour (3, n): a constant colour scaled by a per-pixel factor."""
    return np.asarray(color, np.float32)[:, None] * factor.astype(np.float32)[None, :]


def _wobble(rng: np.random.Generator, n: int, amp: float) -> tuple[np.ndarray, ...]:
    """Random integer frequencies, amplitudes and phases for a periodic radius perturbation."""
    amps = amp * rng.uniform(0.3, 1, n) / np.arange(1, n + 1)
    return (rng.integers(2, 9, n).astype(np.float32), amps.astype(np.float32),
            rng.uniform(0, 2 * np.pi, n).astype(np.float32))


def _blob_sd(p: Patch, r: float, rng: np.random.Generator, amp: float, cs=0.0, cz=0.0,
             sx: float = 1.0, sz: float = 1.0) -> np.ndarray:
    """Signed distance (approx.) of a ragged ellipse of radius r, stretched by (sx, sz)."""
    ds, dz = (p.s - cs) / sx, (p.z - cz) / sz
    ang = np.arctan2(dz, ds)
    k, a, ph = _wobble(rng, 3, amp)
    edge = r * (1 + (a[:, None] * np.sin(k[:, None] * ang[None] + ph[:, None])).sum(0))
    return np.hypot(ds, dz) - edge


def _strand(p: Patch, rng: np.random.Generator, o: tuple[float, float], angle: float,
            length: float, hw0: float, hw1: float, color, wiggle: float) -> None:
    """A wiggly line from o in direction `angle` (cracks, roots, streaks): |v - f(u)|."""
    ca, sa = np.cos(angle), np.sin(angle)
    k = rng.uniform(4, 30, 3) / max(length, 1e-3)
    amp = wiggle * length * rng.uniform(0.2, 1, 3) / np.array([1, 2, 4])
    ph = rng.uniform(0, 2 * np.pi, 3)
    ds, dz = p.s - np.float32(o[0]), p.z - np.float32(o[1])
    u = ds * np.float32(ca) + dz * np.float32(sa)
    v = dz * np.float32(ca) - ds * np.float32(sa)
    # Only pixels in the strand's own box pay for the sines (strands are thin).
    reach = np.float32(2 * amp.sum() + max(hw0, hw1)) + p.fp
    near = np.flatnonzero((u >= 0) & (u <= length) & (np.abs(v) <= reach))
    if near.size == 0:
        return
    un, vn = u[near], v[near]
    f = np.zeros_like(un)
    for a, kk, ph0 in zip(amp.astype(np.float32), k.astype(np.float32), ph.astype(np.float32)):
        f += a * (np.sin(kk * un + ph0) - np.sin(ph0))  # wiggle, zero at the origin
    frac = un / np.float32(length)
    sub = Patch(p.s[near], p.z[near], p.fp[near], p.alb.take(near, axis=1),
                np.zeros(near.size, bool), p.radius, p.base)
    sub.line(np.abs(vn - f), (hw0 + (hw1 - hw0) * frac).astype(np.float32), color)
    p.alb[:, near] = sub.alb
    p.label[near] |= sub.label


def _opening(p: Patch, r: float, rim: float, rim_color, rng, ragged: float = 0.0) -> np.ndarray:
    """A dark round opening with a rim ring; returns the outer signed distance."""
    sd = _blob_sd(p, r, rng, ragged) if ragged else np.hypot(p.s, p.z) - r
    p.area(sd, rim_color)
    p.area(sd + rim, HOLE, mark=False)
    return sd


# --- one function per code -------------------------------------------------------------------

def _joint_offset(d: Defect, p: Patch, rng) -> None:  # JO, FS: crescent gap + lit step
    gap = d.size
    w = gap * np.maximum(np.cos(p.s / p.radius), 0) ** 1.5
    w = np.where(w > 0.25 * gap, w, 0).astype(np.float32)
    on = w > 0
    p.line(np.where(on, np.abs(p.z), np.inf).astype(np.float32), 0.5 * w, HOLE)
    lip = 0.6 * w
    p.line(np.where(on, np.abs(p.z - 0.5 * w - 0.5 * lip), np.inf).astype(np.float32),
           0.5 * lip, np.minimum(p.base * 1.6 + 0.05, 0.95))


def _intruding_lateral(d: Defect, p: Patch, rng) -> None:  # IL: protruding stub, shadow
    r = d.size
    p.area(np.hypot(p.s, p.z - 0.45 * r) - r, p.base * 0.25, mark=False)  # shadow behind
    rim_col = np.array(rng.choice([[0.62, 0.36, 0.2], [0.62, 0.6, 0.56]]), np.float32)
    p.area(np.hypot(p.s, p.z) - r, _tint(rim_col, 1 + 0.6 * np.clip(-p.z / r, 0, 1)))
    p.area(np.hypot(p.s, p.z) - r * rng.uniform(0.6, 0.75), HOLE, mark=False)


def _infiltration(d: Defect, p: Patch, rng) -> None:  # IN: wet dark streaks flowing down
    wet = p.base * np.float32(0.32) + np.float32([0, 0.01, 0.025])
    p.area(_blob_sd(p, 0.35 * d.size, rng, 0.25), wet)
    down = -np.sign(d.theta) if d.theta != 0 else 1.0
    for _ in range(int(rng.integers(2, 6))):
        o = (float(rng.uniform(-0.2, 0.2) * d.size), float(rng.uniform(-0.25, 0.25) * d.size))
        ang = (0.0 if down > 0 else np.pi) + rng.uniform(-0.3, 0.3)
        _strand(p, rng, o, ang, d.size * rng.uniform(1.5, 3.0), 0.02, 0.008, wet, 0.05)
    glint = np.clip(p.speckle(0.006, d.seed) - 0.55, 0, 1) * 2.5 * p.label
    p.paint(glint.astype(np.float32), [0.9, 0.92, 0.95])


def _crack(d: Defect, p: Patch, rng) -> None:  # RB: cracks, sometimes a break-out hole
    main = rng.uniform(0, np.pi)
    for i in range(int(rng.integers(1, 4))):
        ang = main + (0 if i == 0 else rng.uniform(-1, 1))
        start = (0.0, 0.0) if i == 0 else (float(rng.uniform(-0.3, 0.3) * d.size), 0.0)
        _strand(p, rng, start, ang, d.size * rng.uniform(0.6, 1.0), 0.007, 0.003, HOLE, 0.08)
        _strand(p, rng, start, ang + np.pi, d.size * rng.uniform(0.3, 0.8), 0.007, 0.003, HOLE, 0.08)
    if rng.uniform() < 0.35:
        sd = _blob_sd(p, 0.3 * d.size, rng, 0.3)
        p.area(sd - 0.015, np.minimum(p.base * 1.3, 0.9))
        p.area(sd, HOLE * 3)


def _surface_damage(d: Defect, p: Patch, rng) -> None:  # OB: exposed aggregate
    sd = _blob_sd(p, d.size, rng, 0.3)
    p.area(sd - 0.01, p.base * 0.55)
    agg = _tint(p.base * 1.15, p.speckle(0.01, d.seed) * 0.35 + 1.0)
    p.area(sd + 0.01, np.clip(agg + np.float32([[0.04], [0.03], [0.0]]), 0, 1), mark=False)


def _production_error(d: Defect, p: Patch, rng) -> None:  # PF: smooth lighter lump, seam
    sd = _blob_sd(p, d.size, rng, 0.1, sx=0.35, sz=1.0) * 0.35
    p.area(sd, np.minimum(p.base * 1.45 + [0.06, 0.05, 0.0], 0.95))
    p.line(np.abs(sd).astype(np.float32), 0.002, p.base * 0.3, mark=False)


def _deformation(d: Defect, p: Patch, rng) -> None:  # DE: bulge = shading ramp + hairlines
    sx = rng.uniform(0.8, 1.4)
    sd = _blob_sd(p, d.size, rng, 0.08, sx=sx)
    ramp = np.clip(1.0 + 0.7 * (p.s / (d.size * sx)), 0.35, 1.7)
    p.area(sd, np.clip(_tint(p.base, ramp), 0, 1))
    for side in (-1, 1):
        _strand(p, rng, (side * 0.8 * d.size * sx, -0.8 * d.size), np.pi / 2, 1.6 * d.size,
                0.002, 0.002, HOLE, 0.03)


def _sealing(d: Defect, p: Patch, rng) -> None:  # IS: rubber ring hanging into the pipe
    half = d.size
    k, ph = rng.uniform(8, 20) / half, rng.uniform(0, 2 * np.pi)
    zc = 0.012 + 0.01 * np.sin(k * p.s + ph)
    inside = np.abs(p.s) <= half * (1 - 0.1 * np.cos(5 * p.z / half))
    dist = np.where(inside, np.abs(p.z - zc), np.inf).astype(np.float32)
    p.line(dist, np.float32(rng.uniform(0.012, 0.025)), [0.03, 0.03, 0.035])


def _roots(d: Defect, p: Patch, rng) -> None:  # RO: branching fibres from a root mass
    col = np.array([0.5, 0.38, 0.24], np.float32) * rng.uniform(0.8, 1.2)
    for _ in range(int(rng.integers(5, 11))):
        _strand(p, rng, (0.0, 0.0), rng.uniform(0, 2 * np.pi), d.size * rng.uniform(0.4, 1.0),
                0.01, 0.003, col, 0.12)
    sd = _blob_sd(p, 0.25 * d.size, rng, 0.35)
    p.area(sd, np.clip(_tint(col, 0.8 + 0.5 * p.speckle(0.008, d.seed)), 0, 1))


def _settled(d: Defect, p: Patch, rng) -> None:  # AF: sand/gravel bank along the invert
    sd = _blob_sd(p, d.size, rng, 0.15, sz=rng.uniform(1.5, 3.0))
    grit = 1.0 + 0.35 * p.speckle(0.012, d.seed)
    p.area(sd, np.clip(_tint([0.46, 0.39, 0.28], grit), 0, 1))


def _attached(d: Defect, p: Patch, rng) -> None:  # BE: whitish encrustation lumps
    for _ in range(int(rng.integers(1, 4))):
        c = (float(rng.uniform(-0.5, 0.5) * d.size), float(rng.uniform(-0.5, 0.5) * d.size))
        sd = _blob_sd(p, d.size * rng.uniform(0.3, 0.55), rng, 0.35, cs=c[0], cz=c[1])
        bump = 0.85 + 0.3 * p.speckle(0.015, d.seed)
        p.area(sd, np.clip(_tint([0.74, 0.72, 0.64], bump), 0, 1))


def _obstacle(d: Defect, p: Patch, rng) -> None:  # FO: brick / stone / wood, with shadow
    col = np.array(rng.choice([[0.55, 0.2, 0.12], [0.5, 0.5, 0.48], [0.45, 0.3, 0.15]]), np.float32)
    sd = _blob_sd(p, d.size, rng, 0.12, sx=rng.uniform(0.6, 1.0), sz=rng.uniform(1.0, 1.6))
    p.area(sd - 0.3 * d.size, p.base * 0.2, mark=False)  # shadow rim around the far side
    p.area(sd, np.clip(_tint(col, 1.3 - 0.6 * np.clip(p.z / d.size, -0.5, 1)), 0, 1))


def _branch(d: Defect, p: Patch, rng) -> None:  # GR: clean branch connection
    rim = np.array(rng.choice([[0.6, 0.35, 0.2], [0.5, 0.5, 0.5]]), np.float32)
    _opening(p, d.size, 0.18 * d.size, rim, rng)


def _chiselled(d: Defect, p: Patch, rng) -> None:  # PH: ragged broken-out opening
    _opening(p, d.size, 0.3 * d.size, np.minimum(p.base * 1.35, 0.9), rng, ragged=0.25)


def _drilled(d: Defect, p: Patch, rng) -> None:  # PB: crisp round hole, thin bright edge
    _opening(p, d.size, 0.006, [0.85, 0.85, 0.82], rng)


def _reinstatement(d: Defect, p: Patch, rng) -> None:  # OS: liner partly covering a hole
    sd = np.hypot(p.s, p.z) - d.size
    p.area(sd, HOLE)
    ang = rng.uniform(0, 2 * np.pi)
    chord = p.s * np.cos(ang) + p.z * np.sin(ang) - rng.uniform(-0.2, 0.4) * d.size
    flap = np.maximum(sd, chord)
    p.area(flap, [0.78, 0.74, 0.6], mark=False)
    cut = np.abs(chord) + np.maximum(sd, 0)  # bright cut edge along the chord, inside the hole
    p.line(cut.astype(np.float32), 0.003, [0.95, 0.93, 0.85], mark=False)


def _transition(d: Defect, p: Patch, rng) -> None:  # OP: opening in a collar
    r = np.hypot(p.s, p.z)
    p.area(r - 1.6 * d.size, np.minimum(p.base * 1.3 + 0.05, 0.9))
    p.area(r - 1.25 * d.size, p.base * 0.6, mark=False)
    p.area(r - d.size, HOLE, mark=False)


def _construction(d: Defect, p: Patch, rng) -> None:  # OK: opening framed by mortar
    half = 1.5 * d.size
    box = np.maximum(np.abs(p.s), np.abs(p.z)) - half
    p.area(box, [0.66, 0.64, 0.6])
    p.line(np.abs(box), 0.004, p.base * 0.3, mark=False)
    p.area(np.hypot(p.s, p.z) - d.size, HOLE, mark=False)


DRAW: dict[str, Callable[[Defect, Patch, np.random.Generator], None]] = {
    "JO": _joint_offset, "FS": _joint_offset, "IL": _intruding_lateral, "IN": _infiltration,
    "RB": _crack, "OB": _surface_damage, "PF": _production_error, "DE": _deformation,
    "IS": _sealing, "RO": _roots, "AF": _settled, "BE": _attached, "FO": _obstacle,
    "GR": _branch, "PH": _chiselled, "PB": _drilled, "OS": _reinstatement, "OP": _transition,
    "OK": _construction,
}


# Half-extent (arc, axial) in units of `size` outside which a defect paints nothing; it only
# bounds the work, so it is generous (checked against each shape's largest reach).
_EXTENT = {"IS": (1.1, None), "IN": (3.2, 1.5), "OP": (2.2, 2.2), "OK": (2.2, 2.2),
           "AF": (1.4, 3.6), "DE": (2.6, 2.2), "FO": (2.0, 2.6)}


def extent(d: Defect, radius: float) -> tuple[float, float]:
    """Half-extent (arc metres, axial metres) of the pixels a defect may touch."""
    if d.code in ("JO", "FS"):
        return np.pi * radius, 1.3 * d.size + 0.01
    hs, hz = _EXTENT.get(d.code, (1.8, 1.8))
    return hs * d.size, 0.08 if hz is None else hz * d.size


def draw_defect(d: Defect, p: Patch) -> None:
    """Paint and label one defect; shape randomness comes only from its seed."""
    DRAW[d.code](d, p, np.random.default_rng(d.seed))
