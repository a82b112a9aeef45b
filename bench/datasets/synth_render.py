"""SynthSewer renderer: wall/water texture, joints, defects, lamp shading, tone curve.

`SceneRenderer(scene, camera)` does the per-sequence work once (ray casting, which pixels
need which noise octave, shading, which pixels may touch which defect); `render(z)` then
draws the frame with the camera at position z along the pipe. Everything is vectorised
float32 numpy over the wall / water pixel subsets.

Shading model (linear light, then a soft-clip + gamma 2.2 tone curve to uint8):
    wall  = albedo * E,   E = gain * (ambient + (1 - ambient) cos_inc) / (1 + (t/d0)^2) * exp(-fog t)
    + haze * (1 - exp(-fog t))   (backscatter: far regions turn into low-contrast murk)
The lamp sits at the camera, so far wall is darker (1/t^2), seen at grazing incidence
(cos_inc ~ R/t) and hazier; its texture is also coarser because octaves finer than two pixel
footprints are faded out (anti-aliasing) -- the far field is low-detail in the image itself.
The exposure is fixed per sequence (set on the first frame, like a locked QV camera).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from bench.datasets.synth_defects import LABEL_ID, Defect, Patch, draw_defect, extent
from bench.datasets.synth_fine import draw as draw_fine
from bench.datasets.synth_geometry import VOID, WALL, WATER, Camera, cast_rays
from bench.datasets.synth_noise import fade, noise_axis, noise_eval

# Wall noise octaves: (cell along the circumference, cell along the pipe, amplitude), metres.
# The second one is stretched around the pipe: drip / flow marks running down the wall.
OCTAVES = ((0.8, 0.8, 0.30), (0.4, 0.03, 0.10), (0.3, 0.3, 0.18), (0.11, 0.11, 0.14),
           (0.04, 0.04, 0.10), (0.015, 0.015, 0.08), (0.006, 0.006, 0.06))
PIT_OCTAVE = 5  # its peaks become small dark pits (porous concrete)
D0 = 1.0  # lamp falloff distance scale (m)
TONE_MAX = 4.0  # linear values above this clip to white


@dataclass(frozen=True)
class PipeScene:
    """Everything fixed for one pipe (one sequence): geometry, materials, lamp, defects."""

    radius: float = 0.5
    water_depth: float = 0.0  # m above the invert; 0 = dry
    joint_spacing: float = 1.5
    joint_phase: float = 0.0
    base_color: tuple[float, float, float] = (0.52, 0.5, 0.46)
    stain_color: tuple[float, float, float] = (0.3, 0.24, 0.15)
    water_color: tuple[float, float, float] = (0.06, 0.058, 0.035)
    texture: float = 1.2  # contrast of the multi-octave wall noise
    stain: float = 0.35  # how much low-frequency dirt is mixed in
    tex_seed: int = 0
    exposure: float = 0.55  # linear value the brightest (98th pct) wall pixels reach
    ambient: float = 0.15
    beam: float = 3.0  # lamp beam profile cos(angle off the optical axis) ** beam
    fog: float = 0.03  # extinction per metre
    haze: float = 0.004
    max_depth: float = 40.0
    defects: tuple[Defect, ...] = field(default_factory=tuple)


@lru_cache(maxsize=1)
def _tone_lut() -> np.ndarray:
    """uint8 LUT indexed by sqrt(linear) * 32767 (sqrt spacing keeps the darks smooth)."""
    x = (np.arange(65536, dtype=np.float64) / 32767.0) ** 2
    curve = (1 - np.exp(-1.6 * x)) / (1 - np.exp(-1.6 * TONE_MAX))  # soft shoulder
    return np.round(255 * curve ** (1 / 2.2)).clip(0, 255).astype(np.uint8)


def tone(lin: np.ndarray) -> np.ndarray:
    """Linear float32 light -> uint8 through the fixed camera tone curve."""
    idx = (np.sqrt(np.clip(lin, 0.0, TONE_MAX)) * 32767.0).astype(np.int32)
    return _tone_lut().take(idx)


def _joint_dist(zw: np.ndarray, scene: PipeScene) -> np.ndarray:
    q = (zw - np.float32(scene.joint_phase)) * np.float32(1.0 / scene.joint_spacing)
    m = q - np.floor(q)  # np.mod is several times slower than floor on float32
    return np.minimum(m, 1 - m) * np.float32(scene.joint_spacing)


def joint_positions(scene: PipeScene, z0: float, z1: float) -> np.ndarray:
    """z of the joints in [z0, z1]."""
    k = np.arange(np.ceil((z0 - scene.joint_phase) / scene.joint_spacing),
                  np.floor((z1 - scene.joint_phase) / scene.joint_spacing) + 1)
    return scene.joint_phase + k * scene.joint_spacing


class SceneRenderer:
    """Renders frames of one scene seen by one camera pose advancing along the pipe."""

    def __init__(self, scene: PipeScene, cam: Camera):
        self.scene, self.cam = scene, cam
        R = scene.radius
        rt = cast_rays(cam, R, scene.water_depth, scene.max_depth)
        self.rays = rt
        surf = rt.surface.ravel()
        wall, self.water = np.flatnonzero(surf == WALL), np.flatnonzero(surf == WATER)
        self.void = np.flatnonzero(surf == VOID)
        # Order wall pixels by how many octaves they resolve (stable, so neighbours stay
        # together): each octave's pixels are then a contiguous tail, a slice, not a gather.
        cells = np.array([min(cs, cz) for cs, cz, _ in OCTAVES[1:]])
        fp = rt.footprint.ravel()[wall]
        resolved = len(cells) - np.searchsorted(np.sort(cells), fp, side="right")
        self.wall = wall[np.argsort(resolved, kind="stable")]
        th = rt.theta.ravel()[self.wall]
        self.zrel_w = rt.z_rel.ravel()[self.wall]
        self.fp_w = rt.footprint.ravel()[self.wall]
        t = rt.depth.ravel()
        rng = np.random.default_rng(scene.tex_seed)
        offs = rng.integers(0, 1 << 20, size=(len(OCTAVES) + 2, 2))
        x01 = th * np.float32(1 / (2 * np.pi))
        x01 += x01 < 0  # [0, 1) around the pipe
        x01 = np.minimum(x01, np.float32(1 - 1e-7))
        self.octaves = []
        for k, (cs, cz, amp) in enumerate(OCTAVES):
            fk = fade(min(cs, cz), self.fp_w)
            if k == 0:
                fk[:] = 1.0  # the coarsest octave also drives the stains: never faded
            active = fk > 0
            if not active.any():
                continue
            start = int(np.argmax(active))  # a tail by construction; each pixel keeps its weight
            period = max(1, int(round(2 * np.pi * R / cs)))
            axis = noise_axis(np.minimum(x01[start:] * period, np.float32(period) * (1 - 1e-7)),
                              period, int(offs[k, 0]))
            weight = (amp * scene.texture * fk[start:]).astype(np.float32)
            self.octaves.append((k, cz, start, axis, weight, int(offs[k, 1])))
        # Dirt band where the flow line meets the wall (or along a dry invert): angle only.
        th_wl = np.arccos(np.clip((R - scene.water_depth) / R, -1, 1))
        self.band = (0.5 * np.exp(-((np.abs(th) - th_wl - 0.08) / 0.22) ** 2)).astype(np.float32)
        # Per-pixel lamp term with gain 1, then exposure locked on the wall pixels.
        unit = (scene.ambient + (1 - scene.ambient) * rt.cos_inc.ravel()) / (1 + (t / D0) ** 2)
        unit = unit * np.exp(-scene.fog * t) * rt.axis_cos.ravel() ** scene.beam
        lum = float(np.mean(scene.base_color))
        ref = np.percentile(unit[self.wall], 98) * lum if self.wall.size else 1.0
        self.gain = scene.exposure / max(ref, 1e-6)
        self.shade = (unit * self.gain).astype(np.float32)
        self.haze = (scene.haze * (1 - np.exp(-scene.fog * t))).astype(np.float32)
        self.shade_w, self.haze_w = self.shade[self.wall], self.haze[self.wall]
        self.shade_wt, self.haze_wt = self.shade[self.water], self.haze[self.water]
        self.void_rgb = tone(self.haze[self.void])
        # Defects: the arc-length window depends on theta only, so precompute it here.
        self.defects = []
        for d in scene.defects:
            hs, hz = extent(d, R)
            dth = th - np.float32(d.theta)
            dth -= np.float32(2 * np.pi) * np.round(dth * np.float32(1 / (2 * np.pi)))
            ds = np.float32(R) * dth
            sel = np.flatnonzero(np.abs(ds) <= hs)
            if sel.size:
                self.defects.append((d, sel, ds[sel], np.float32(hz)))
        if self.water.size:
            xw = rt.x_hit.ravel()[self.water]
            self.zrel_wt = rt.z_rel.ravel()[self.water]
            fpw = rt.footprint.ravel()[self.water]
            self.ripples = [(noise_axis(xw / cx, None, int(offs[-2 + i, 0])), cz, int(offs[-2 + i, 1]),
                             (a * fade(min(cx, cz), fpw)).astype(np.float32))
                            for i, (cx, cz, a) in enumerate(((0.15, 0.05, 1.0), (0.05, 0.012, 0.5)))]
            self.glint_w = np.exp(-t[self.water] / 1.5).astype(np.float32)

    def _wall_albedo(self, zw: np.ndarray) -> np.ndarray:
        sc = self.scene
        bright = np.ones(zw.shape, np.float32)
        stain = None
        for k, cz, start, axis, amp, zoff in self.octaves:
            n = noise_eval(axis, zw[start:] * np.float32(1 / cz), zoff)
            if k == 0:
                stain = n
            if k == PIT_OCTAVE:  # pits: sharp dark dots where this octave peaks
                n = n - np.clip(n - 0.55, 0, 1) * np.float32(8)
            bright[start:] += amp * n
        np.maximum(bright, 0.15, out=bright)
        # Pipe sections differ slightly in tone (different castings).
        sec = np.floor((zw - np.float32(sc.joint_phase)) / np.float32(sc.joint_spacing))
        tint = np.sin(sec * np.float32(12.9898) + np.float32(sc.tex_seed % 97))  # hash-like
        bright *= 1 + np.float32(0.06) * tint
        st = np.clip(sc.stain * (0.5 - stain) + self.band, 0, 0.9)
        base = np.asarray(sc.base_color, np.float32)
        # Channel-planar (3, n): numpy is several times slower on a trailing axis of 3.
        alb = base[:, None] * (bright * (1 - st))
        alb += np.asarray(sc.stain_color, np.float32)[:, None] * st
        # Joints: a lighter gasket/mortar band with a dark groove in its middle.
        dj = _joint_dist(zw, sc)
        near = np.flatnonzero(dj < 0.05 + self.fp_w)
        p = Patch(s=dj[near], z=dj[near], fp=self.fp_w[near], alb=alb.take(near, axis=1),
                  label=np.zeros(near.size, bool), radius=sc.radius, base=base)
        p.line(p.z, np.float32(0.02), np.minimum(base * 1.2, 0.9), mark=False)
        p.line(p.z, np.float32(0.005), base * 0.15, mark=False)
        _scatter(alb, near, p.alb)
        return alb

    def render(self, z: float | None = None) -> dict[str, np.ndarray]:
        """Frame with the camera at z (default: the camera's own z).

        Returns rgb uint8 (H, W, 3); depth, theta, z_wall float32 (H, W); surface uint8
        (WALL/WATER/VOID); label uint8 (0 none, k = LABEL_CODES[k-1]; wall pixels only).
        depth, theta and surface do not change as the camera advances: they are the shared,
        read-only arrays of the ray table.
        """
        z = self.cam.z if z is None else float(z)
        h, w = self.rays.depth.shape
        zf = np.float32(z)
        zw = self.zrel_w + zf
        alb = self._wall_albedo(zw)
        lab_w = np.zeros(zw.size, np.uint8)
        base = np.asarray(self.scene.base_color, np.float32)
        for d, sel, ds, hz in self.defects:
            zl = zw[sel] - np.float32(d.z)
            m = np.abs(zl) <= hz
            if not m.any():
                continue
            ii = sel[m]
            p = Patch(s=ds[m], z=zl[m], fp=self.fp_w[ii], alb=alb.take(ii, axis=1),
                      label=np.zeros(ii.size, bool), radius=self.scene.radius, base=base)
            if not draw_fine(d, p):
                draw_defect(d, p)
            _scatter(alb, ii, p.alb)
            lab_w[ii[p.label]] = LABEL_ID[d.code]
        rgb = np.empty((3, h * w), np.uint8)
        alb *= self.shade_w
        alb += self.haze_w
        _scatter(rgb, self.wall, tone(alb))
        if self.water.size:
            zt = self.zrel_wt + zf
            rip = sum(amp * noise_eval(ax, zt / np.float32(cz), zo) for ax, cz, zo, amp in self.ripples)
            glint = np.clip(rip - 0.6, 0, 1) * 2 * self.glint_w
            walb = np.asarray(self.scene.water_color, np.float32)[:, None] * (1 + 0.6 * rip)
            walb += np.float32(0.5) * glint
            _scatter(rgb, self.water, tone(walb * self.shade_wt + self.haze_wt))
        _scatter(rgb, self.void, np.broadcast_to(self.void_rgb, (3, self.void.size)))
        out = np.empty((h, w, 3), np.uint8)
        for c in range(3):
            out[..., c] = rgb[c].reshape(h, w)
        label = np.zeros(h * w, np.uint8)
        label[self.wall] = lab_w
        return {"rgb": out, "depth": self.rays.depth, "theta": self.rays.theta,
                "z_wall": self.rays.z_rel + zf, "surface": self.rays.surface,
                "label": label.reshape(h, w)}


def _scatter(dst: np.ndarray, idx: np.ndarray, src: np.ndarray) -> None:
    """dst[:, idx] = src for planar (3, n) arrays, one channel at a time (much faster)."""
    for c in range(dst.shape[0]):
        dst[c][idx] = src[c]


def render_frame(scene: PipeScene, cam: Camera) -> dict[str, np.ndarray]:
    """One frame of `scene` seen by `cam` (convenience; sequences reuse a SceneRenderer)."""
    return SceneRenderer(scene, cam).render()
