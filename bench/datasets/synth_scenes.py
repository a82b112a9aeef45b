"""Random SynthSewer scenes: pipe, materials, camera and defects, from one numpy Generator.

`sample_shot(rng, width, height, codes, ...)` returns a `Shot` (scene + camera + step): the
first frame is seen from `camera`, frame t from `camera.at(camera.z + t * step)`. Defects are
placed where the camera will see them: on the walls between the closest distance at which
the whole pipe cross-section is in view and a few metres beyond the last frame.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bench.datasets.synth_defects import AT_JOINT, CONNECTIONS, Defect, Grain
from bench.datasets.synth_geometry import Camera
from bench.datasets.synth_render import PipeScene, joint_positions

# name: (base colour, stain colour, texture contrast)
MATERIALS = {
    "concrete": ((0.5, 0.49, 0.45), (0.3, 0.26, 0.18), 1.2),
    "old-concrete": ((0.42, 0.4, 0.34), (0.24, 0.2, 0.12), 1.5),
    "clay": ((0.56, 0.37, 0.23), (0.28, 0.2, 0.12), 0.8),
    "pvc": ((0.62, 0.45, 0.3), (0.3, 0.24, 0.15), 0.35),
    "liner": ((0.6, 0.6, 0.55), (0.3, 0.27, 0.2), 0.3),
}
WATERS = ((0.06, 0.058, 0.035), (0.05, 0.045, 0.03), (0.07, 0.07, 0.05))

# Typical size (m) of each defect code: uniform in [lo, hi] (see synth_defects for meaning).
SIZES = {
    "JO": (0.03, 0.08), "FS": (0.03, 0.08), "IL": (0.07, 0.14), "IN": (0.15, 0.35),
    "RB": (0.3, 0.7), "OB": (0.1, 0.25), "PF": (0.15, 0.35), "DE": (0.25, 0.45),
    "IS": (0.3, 0.7), "RO": (0.25, 0.5), "AF": (0.1, 0.3), "BE": (0.12, 0.3),
    "FO": (0.08, 0.16), "GR": (0.08, 0.15), "PH": (0.07, 0.13), "PB": (0.05, 0.09),
    "OS": (0.07, 0.13), "OP": (0.06, 0.1), "OK": (0.06, 0.1),
}


@dataclass(frozen=True)
class Shot:
    scene: PipeScene
    camera: Camera  # pose of the first frame
    step: float  # camera advance between consecutive frames (m)


def sample_camera(rng: np.random.Generator, width: int, height: int, radius: float,
                  water_depth: float, z: float = 0.0) -> Camera:
    """QV-like pose: near the axis, small tilt; wide angle, or zoomed in one time in four."""
    hfov = np.deg2rad(rng.uniform(30, 60) if rng.uniform() < 0.25 else rng.uniform(65, 95))
    focal = 0.5 * width / np.tan(hfov / 2)
    y_max = radius - water_depth - 0.2 * radius  # keep the lens well above the water
    y = float(min(rng.uniform(-0.1, 0.2) * radius, y_max))
    return Camera(width, height, float(focal), x=float(rng.uniform(-0.08, 0.08) * radius), y=y,
                  z=z, yaw=float(np.deg2rad(rng.uniform(-3, 3))),
                  pitch=float(np.deg2rad(rng.uniform(-3, 3))))


def full_view_distance(cam: Camera, radius: float) -> float:
    """Distance ahead beyond which the whole cross-section fits in the image."""
    return radius * cam.focal / (0.5 * min(cam.width, cam.height))


def _place(code: str, rng: np.random.Generator, scene: PipeScene, z_lo: float, z_hi: float,
           seed: int, size_scale: float = 1.0) -> Defect:
    R = scene.radius
    th_wl = float(np.arccos(np.clip((R - scene.water_depth) / R, -1, 1)))  # waterline angle
    side = float(rng.choice([-1.0, 1.0]))
    lo, hi = SIZES[code]
    size = float(rng.uniform(lo, hi)) * (1.0 if code in ("JO", "FS") else np.sqrt(R / 0.5))
    size *= size_scale
    z = float(rng.uniform(z_lo, z_hi))
    if code in AT_JOINT:
        joints = joint_positions(scene, z_lo, z_hi)
        if joints.size == 0:
            joints = joint_positions(scene, z_lo, z_lo + scene.joint_spacing)
        z = float(rng.choice(joints))
    if code in CONNECTIONS or code == "IL":
        theta = side * rng.uniform(0.9, 2.4)
    elif code == "IN":
        theta = side * rng.uniform(1.2, np.pi)
    elif code == "IS":
        theta = side * rng.uniform(2.2, np.pi)
    elif code == "AF":  # a bank along the invert, reaching above the waterline
        theta, size = 0.0, R * (th_wl + rng.uniform(0.25, 0.6))
    elif code == "FO":  # lying on the invert, or on the dry strip just above the water
        theta = side * (th_wl + rng.uniform(0.15, 0.4)) if th_wl > 0 else rng.uniform(-0.3, 0.3)
        size = min(size, 0.5 * R)
    else:
        theta = side * rng.uniform(min(th_wl + 0.3, 2.5), np.pi)
    return Defect(code, float(theta), z, size, seed)


@dataclass(frozen=True)
class Placement:
    """Where defects go and how big they are; the defaults are the SR and pipe views' (their
    bytes depend on them). `near` = full_view_distance of the first camera.

    - z_range None: ahead of the first camera from 0.5 * near to a few metres past the last
      frame (z_reach); (lo, hi): from lo * near to hi * near ahead of the first camera.
    - size_scale multiplies every code's size (AF's bank and FO's cap stay relative to R).
    - step: range (m) of the camera advance between frames.
    - grain_px: > 0 gives each defect a `Grain` of that many pixels of the first frame; the
      codes synth_fine draws then carry only structure at that scale, which a x4 degradation
      removes. 0 (the default) keeps the coarse drawings.
    """

    z_range: tuple[float, float] | None = None
    size_scale: float = 1.0
    step: tuple[float, float] = (0.4, 1.2)
    grain_px: float = 0.0


def sample_shot(rng: np.random.Generator, width: int, height: int, codes: list[str],
                n_frames: int = 2, z_reach: float = 1.8,
                placement: Placement = Placement()) -> Shot:
    """A random pipe with `codes` defects (repeats allowed) placed in view of the frames."""
    material = list(MATERIALS)[int(rng.integers(len(MATERIALS)))]
    base, stain_col, texture = MATERIALS[material]
    tint = rng.uniform(0.85, 1.15)
    radius = float(rng.uniform(0.3, 0.75))
    water = 0.0 if rng.uniform() < 0.3 else float(rng.uniform(0.05, 0.45) * radius)
    spacing = float(rng.uniform(1.0, 2.5))
    scene = PipeScene(
        radius=radius, water_depth=water, joint_spacing=spacing,
        joint_phase=float(rng.uniform(0, spacing)),
        base_color=tuple(float(c) for c in np.clip(np.asarray(base) * tint, 0, 0.9)),
        stain_color=stain_col, water_color=WATERS[int(rng.integers(len(WATERS)))],
        texture=float(texture * rng.uniform(0.8, 1.2)), stain=float(rng.uniform(0.15, 0.5)),
        tex_seed=int(rng.integers(1 << 31)), exposure=float(rng.uniform(0.22, 0.4)),
        ambient=float(rng.uniform(0.1, 0.25)), beam=float(rng.uniform(1.5, 5.0)),
        fog=float(rng.uniform(0.01, 0.06)), haze=float(rng.uniform(0.002, 0.006)))
    cam = sample_camera(rng, width, height, radius, water, z=float(rng.uniform(0, 20)))
    step = float(rng.uniform(*placement.step))
    near = full_view_distance(cam, radius)
    if placement.z_range is None:
        z_lo, z_hi = cam.z + 0.5 * near, cam.z + (n_frames - 1) * step + near + z_reach
    else:
        z_lo, z_hi = (cam.z + f * near for f in placement.z_range)
    defects = tuple(_place(c, rng, scene, z_lo, z_hi, int(rng.integers(1 << 31)),
                           placement.size_scale) for c in codes)
    if placement.grain_px > 0:  # no draw from rng: the scene is the same but for the drawing
        grain = Grain(placement.grain_px, cam)
        defects = tuple(replace(d, grain=grain) for d in defects)
    return Shot(replace(scene, defects=defects), cam, step)
