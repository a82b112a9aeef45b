"""SynthSewer geometry: pinhole camera inside a circular pipe, ray-cylinder / water casting.

Conventions (everything else in SynthSewer builds on these):
- World frame, metres: the pipe axis is the z axis (z grows along the pipe, away from the
  start), x points right, y points *down*; the wall is x^2 + y^2 = R^2.
- Wall coordinates (theta, z): the wall point is (R sin theta, R cos theta, z), so theta = 0
  is the pipe bottom (invert), +pi/2 the right wall, +-pi the crown.
- Water is the half-space y > R - water_depth (a horizontal plane above the invert).
- Camera frame is OpenCV-like: x right, y down, z forward (optical axis). Camera -> world
  rotation = R_y(yaw) @ R_x(pitch); the camera centre is (x, y, z) in world coordinates.
- Image coordinates are continuous (u, v) with the image spanning [0, W] x [0, H]: pixel
  (row i, col j) covers [j, j+1) x [i, i+1) and its ray goes through its centre (j+.5, i+.5).
  The principal point defaults to the image centre (W/2, H/2); focal length `focal` is in
  pixels (square pixels). A larger focal length = the QV zoom.
- depth = Euclidean distance along the ray from the camera centre to the first surface hit
  (wall or water), in metres, clamped to `max_depth` (beyond it the pipe is treated as an
  unlit void). This is what `Sample.depth` holds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

WALL, WATER, VOID = 0, 1, 2  # values of the `surface` buffer


@dataclass(frozen=True)
class Camera:
    """Pinhole camera; see the module docstring for the frames and pixel convention."""

    width: int
    height: int
    focal: float  # pixels
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0  # radians, rotation about the world y axis (turns the view right)
    pitch: float = 0.0  # radians, rotation about the camera x axis (positive tilts up)
    cx: float | None = None  # principal point; None = image centre
    cy: float | None = None

    @property
    def principal(self) -> tuple[float, float]:
        return (self.width / 2 if self.cx is None else self.cx,
                self.height / 2 if self.cy is None else self.cy)

    def rotation(self) -> np.ndarray:
        """3x3 camera -> world rotation (float64)."""
        cyw, syw = np.cos(self.yaw), np.sin(self.yaw)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        r_yaw = np.array([[cyw, 0, syw], [0, 1, 0], [-syw, 0, cyw]])
        r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        return r_yaw @ r_pitch

    def at(self, z: float) -> "Camera":
        """The same camera moved to position z along the pipe."""
        return replace(self, z=float(z))


def pixel_rays(cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit world-frame ray directions (dx, dy, dz) through every pixel centre, each float64
    (H, W), plus the cosine between each ray and the optical axis."""
    cx, cy = cam.principal
    u = ((np.arange(cam.width) + 0.5 - cx) / cam.focal)[None, :]
    v = ((np.arange(cam.height) + 0.5 - cy) / cam.focal)[:, None]
    inv = 1.0 / np.sqrt(1.0 + u * u + v * v)  # = camera-frame z of the unit ray
    r = cam.rotation()
    # Component-wise instead of an (H, W, 3) matmul: numpy is slow on a trailing axis of 3.
    d = [(r[i, 0] * u + r[i, 1] * v + r[i, 2]) * inv for i in range(3)]
    return d[0], d[1], d[2], inv


def wall_point(radius: float, theta: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
    """World coordinates (..., 3) of wall point(s) (theta, z)."""
    theta, z = np.broadcast_arrays(np.asarray(theta, float), np.asarray(z, float))
    return np.stack([radius * np.sin(theta), radius * np.cos(theta), z], axis=-1)


def project_points(cam: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project world points (..., 3) -> continuous (u, v) and camera-frame z (in front iff > 0)."""
    pc = (np.asarray(points, float) - np.array([cam.x, cam.y, cam.z])) @ cam.rotation()
    cx, cy = cam.principal
    zc = pc[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return cam.focal * pc[..., 0] / zc + cx, cam.focal * pc[..., 1] / zc + cy, zc


def project_wall_point(cam: Camera, radius: float, theta, z) -> tuple[np.ndarray, np.ndarray]:
    """Continuous image position (u, v) of wall point(s) (theta, z); NaN when behind the camera."""
    u, v, zc = project_points(cam, wall_point(radius, theta, z))
    behind = zc <= 0
    return np.where(behind, np.nan, u), np.where(behind, np.nan, v)


@dataclass
class RayTable:
    """Per-pixel geometry of one camera pose *up to its z position*.

    A camera that only advances along the axis sees every pixel hit the wall at the same
    distance and angle, with the hit's z shifted by the advance; so the table is computed once
    per sequence and each frame costs only `z_wall = cam.z + z_rel`.
    All arrays are float32 (H, W) unless stated.
    """

    depth: np.ndarray  # metres along the ray (clamped to max_depth)
    theta: np.ndarray  # wall angle of the hit point (for water: angle of the hit point too)
    z_rel: np.ndarray  # hit z minus camera z
    x_hit: np.ndarray  # world x of the hit (water ripples are textured in (x, z))
    surface: np.ndarray  # uint8 WALL / WATER / VOID
    cos_inc: np.ndarray  # cosine between the ray and the surface normal (Lambert term)
    footprint: np.ndarray  # approx. size (m) of one pixel on the surface: drives anti-aliasing
    axis_cos: np.ndarray  # cosine between the ray and the optical axis (lamp beam profile)


def cast_rays(cam: Camera, radius: float, water_depth: float = 0.0,
              max_depth: float = 40.0) -> RayTable:
    """Intersect every pixel ray with the pipe wall and the water plane (vectorised)."""
    dx, dy, dz, axis_cos = pixel_rays(cam)
    ox, oy = cam.x, cam.y
    if ox * ox + oy * oy >= radius * radius:
        raise ValueError("camera must be inside the pipe")
    a = dx * dx + dy * dy
    b = 2 * (ox * dx + oy * dy)
    c = ox * ox + oy * oy - radius * radius  # < 0 inside: one positive root
    with np.errstate(divide="ignore", invalid="ignore"):
        t_wall = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    t_wall = np.where(a > 1e-18, t_wall, np.inf)
    surface = np.full(dx.shape, WALL, np.uint8)
    t = t_wall
    y_water = radius - water_depth
    if water_depth > 0:
        if oy >= y_water:
            raise ValueError("camera is under water")
        with np.errstate(divide="ignore"):
            t_w = np.where(dy > 1e-12, (y_water - oy) / np.where(dy > 1e-12, dy, 1.0), np.inf)
        on_water = t_w < t_wall
        t = np.where(on_water, t_w, t_wall)
        surface[on_water] = WATER
    void = t > max_depth
    surface[void] = VOID
    t = np.minimum(t, max_depth)
    px, py = ox + t * dx, oy + t * dy
    theta = np.arctan2(px, py)
    # Inward wall normal is -(x, y)/R; the water normal is -y (up): |ray . normal|.
    cos_wall = np.abs(px * dx + py * dy) / radius
    cos_inc = np.where(surface == WATER, np.abs(dy), cos_wall)
    cos_inc = np.clip(cos_inc, 1e-3, 1.0)
    # A pixel subtends 1/focal rad; on a surface seen at grazing angle it stretches by 1/cos.
    footprint = t / (cam.focal * np.maximum(cos_inc, 0.05))
    f32 = np.float32
    table = RayTable(depth=t.astype(f32), theta=theta.astype(f32), z_rel=(t * dz).astype(f32),
                    x_hit=px.astype(f32), surface=surface, cos_inc=cos_inc.astype(f32),
                    footprint=footprint.astype(f32), axis_cos=axis_cos.astype(f32))
    for arr in vars(table).values():  # shared by every frame of a sequence: read-only
        arr.flags.writeable = False
    return table
