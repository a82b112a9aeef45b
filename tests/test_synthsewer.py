"""SynthSewer: geometry (depth, motion), annotations (masks, boxes, labels), determinism, cache."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import ndimage

from bench.datasets.synth_annot import boxes_from_mask, index_mask
from bench.datasets.synth_defects import LABEL_CODES, Defect
from bench.datasets.synth_geometry import VOID, WALL, WATER, Camera, project_wall_point
from bench.datasets.synth_render import PipeScene, SceneRenderer, render_frame
from bench.datasets.synth_scenes import sample_shot
from bench.datasets.synthsewer import (CLS_MIN_PIXELS, PIPE_MIN_PIXELS, SynthSewerCls,
                                       SynthSewerPipe, SynthSewerSR, render_sequence)

R = 0.5
CAM = Camera(160, 120, 110.0, x=0.03, y=0.04, z=2.0, yaw=0.03, pitch=-0.02)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))


def _rays(cam: Camera) -> np.ndarray:
    """Unit world rays through pixel centres, derived here from the intrinsics (float64)."""
    j, i = np.meshgrid(np.arange(cam.width), np.arange(cam.height))
    d = np.stack([(j + 0.5 - cam.width / 2) / cam.focal, (i + 0.5 - cam.height / 2) / cam.focal,
                  np.ones(j.shape)], -1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return d @ _rot(cam).T


def _rot(cam: Camera) -> np.ndarray:
    """Camera -> world rotation R_y(yaw) R_x(pitch), written out here."""
    cy, sy, cp, sp = np.cos(cam.yaw), np.sin(cam.yaw), np.cos(cam.pitch), np.sin(cam.pitch)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return r_yaw @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])


def _project(cam: Camera, theta, z) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of wall points, written independently of the library."""
    p = np.stack([R * np.sin(theta), R * np.cos(theta), z], -1) - [cam.x, cam.y, cam.z]
    pc = p @ _rot(cam)  # world -> camera = R^T
    u = cam.focal * pc[..., 0] / pc[..., 2] + cam.width / 2
    return u, cam.focal * pc[..., 1] / pc[..., 2] + cam.height / 2


def test_depth_is_the_analytic_ray_cylinder_and_water_distance():
    water = 0.12
    f = render_frame(PipeScene(radius=R, water_depth=water), CAM)
    d = _rays(CAM)
    a = d[..., 0] ** 2 + d[..., 1] ** 2
    b = 2 * (CAM.x * d[..., 0] + CAM.y * d[..., 1])
    c = CAM.x ** 2 + CAM.y ** 2 - R ** 2
    t_wall = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    t_water = np.where(d[..., 1] > 0, (R - water - CAM.y) / np.maximum(d[..., 1], 1e-12), np.inf)
    surf = f["surface"]
    assert (surf == WALL).mean() > 0.5 and (surf == WATER).mean() > 0.05
    wall, wat = surf == WALL, surf == WATER
    np.testing.assert_allclose(f["depth"][wall], t_wall[wall], rtol=1e-5)
    np.testing.assert_allclose(f["depth"][wat], t_water[wat], rtol=1e-5)
    assert np.all(t_water[wall] >= t_wall[wall]) and np.all(t_water[wat] < t_wall[wat])
    # Wall coordinates of the hit point agree with the depth.
    hit = np.array([CAM.x, CAM.y, CAM.z]) + d * t_wall[..., None]
    np.testing.assert_allclose(f["z_wall"][wall], hit[..., 2][wall], atol=1e-4)
    dth = np.angle(np.exp(1j * (f["theta"][wall] - np.arctan2(hit[..., 0], hit[..., 1])[wall])))
    assert np.abs(dth).max() < 1e-4
    assert f["depth"].dtype == np.float32 and f["depth"].shape == (CAM.height, CAM.width)


def test_far_pixels_are_clamped_void():
    cam = Camera(64, 64, 400.0)  # narrow view: the centre sees the pipe far beyond max_depth
    f = render_frame(PipeScene(radius=R, max_depth=10.0), cam)
    assert (f["surface"] == VOID).any()
    assert np.all(f["depth"][f["surface"] == VOID] == np.float32(10.0))


def test_wall_point_lands_where_the_camera_motion_predicts():
    scene = PipeScene(radius=R, tex_seed=3)
    rend = SceneRenderer(scene, CAM)
    step = 0.6
    f0, f1 = rend.render(CAM.z), rend.render(CAM.z + step)
    cam1 = CAM.at(CAM.z + step)
    rng = np.random.default_rng(0)
    ok = (f0["surface"] == WALL) & (f0["depth"] > 2.0) & (f0["depth"] < 8)
    rows, cols = np.nonzero(ok)
    pick = rng.choice(len(rows), 60, replace=False)
    th1, z1 = f1["theta"].astype(np.float64), f1["z_wall"].astype(np.float64)
    checked, err = 0, []
    for i, j in zip(rows[pick], cols[pick]):
        th, z = float(f0["theta"][i, j]), float(f0["z_wall"][i, j])
        u, v = _project(cam1, th, z)
        lib_u, lib_v = project_wall_point(cam1, R, th, z)
        assert abs(lib_u - u) < 1e-6 and abs(lib_v - v) < 1e-6
        # Same point seen from the first camera: back to the pixel it came from.
        u0, v0 = _project(CAM, th, z)
        assert int(np.floor(u0)) == j and int(np.floor(v0)) == i
        iu, iv = int(np.floor(u)), int(np.floor(v))
        if not (2 <= iu < CAM.width - 3 and 2 <= iv < CAM.height - 3) or f1["surface"][iv, iu] != WALL:
            continue  # left the view: not visible in both frames
        checked += 1
        # Invert frame t+1's wall-coordinate buffers around that pixel (affine fit on 5x5):
        # the sub-pixel position whose (theta, z) is the point's must be the predicted one.
        y0, x0 = iv - 2, iu - 2
        if y0 < 0 or x0 < 0 or iv + 3 > CAM.height or iu + 3 > CAM.width:
            continue
        yy, xx = np.mgrid[y0:iv + 3, x0:iu + 3] + 0.5
        a = np.stack([np.ones(yy.size), xx.ravel(), yy.ravel()], 1)
        dth = np.angle(np.exp(1j * (th1[y0:iv + 3, x0:iu + 3] - th))).ravel()
        dz = z1[y0:iv + 3, x0:iu + 3].ravel() - z
        cth, cz = (np.linalg.lstsq(a, b, rcond=None)[0] for b in (R * dth, dz))
        sol = np.linalg.solve(np.array([cth[1:], cz[1:]]), -np.array([cth[0], cz[0]]))
        assert np.hypot(sol[0] - u, sol[1] - v) < 0.5, (sol, u, v)
        err.append(np.hypot(sol[0] - u, sol[1] - v))
    assert checked >= 30 and np.median(err) < 0.1


def test_defects_are_consistent_across_frames():
    il = Defect("IL", 1.2, 1.2, 0.12, seed=5)
    scene = PipeScene(radius=R, defects=(il,))
    cam = Camera(160, 120, 110.0)
    rend = SceneRenderer(scene, cam)
    f0, f1 = rend.render(0.0), rend.render(0.3)
    core = ndimage.binary_erosion(f0["label"] == LABEL_CODES.index("IL") + 1, iterations=2)
    assert core.sum() > 20
    i, j = np.nonzero(core)
    u, v = _project(cam.at(0.3), f0["theta"][i, j].astype(float), f0["z_wall"][i, j].astype(float))
    lab = f1["label"][np.floor(v).astype(int), np.floor(u).astype(int)]
    assert np.all(lab == LABEL_CODES.index("IL") + 1)
    # ... and it appears larger (closer) in the next frame.
    assert (f1["label"] > 0).sum() > (f0["label"] > 0).sum()


def test_far_regions_are_darker():
    near_far = []
    for s in range(4):
        rng = np.random.default_rng(s)
        shot = sample_shot(rng, 160, 120, [])
        f = render_sequence(shot, 1)[0]
        lum = f["rgb"].astype(float).mean(-1)
        wall = f["surface"] == WALL
        near = wall & (f["depth"] < np.percentile(f["depth"][wall], 20))
        far = wall & (f["depth"] > 4 * shot.scene.radius / 0.5 + 2)
        near_far.append((lum[near].mean(), lum[far].mean(), lum[near].std(), lum[far].std()))
    near_far = np.array(near_far)
    assert np.all(near_far[:, 0] > 1.5 * near_far[:, 1])
    assert np.all(near_far[:, 2] > near_far[:, 3])  # far texture is also lower-contrast


def _components(mask: np.ndarray, k: int) -> list[tuple[int, int, int, int, int]]:
    lab, n = ndimage.label(mask == k, structure=np.ones((3, 3)))
    out = []
    for c in range(1, n + 1):
        ys, xs = np.nonzero(lab == c)
        out.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, len(xs)))
    return out


def test_boxes_from_mask_convention():
    m = np.zeros((20, 30), np.uint8)
    m[2:6, 3:9] = 1  # 4 x 6 block
    m[6, 9] = 1  # diagonal neighbour: same 8-connected component
    m[15:17, 20:22] = 1  # 4 px: below threshold -> ignore
    m[10:14, 10:20] = 2
    out, boxes, labels = boxes_from_mask(m, 2, min_pixels=5)
    assert boxes.dtype == np.float32 and labels.dtype == np.int64
    assert sorted(zip(map(tuple, boxes.tolist()), labels.tolist())) == [
        ((3.0, 2.0, 10.0, 7.0), 1), ((10.0, 10.0, 20.0, 14.0), 2)]
    assert np.all(out[15:17, 20:22] == 255) and out[2, 3] == 1


def test_pipe_view_boxes_are_mask_components_and_mask_is_label_buffer():
    ds = SynthSewerPipe(seed=3, n_train=10, n_val=1, n_test=1)
    assert ds.classes == ["JO", "IL", "IN"]
    samples, n_boxes = ds.split("train"), 0
    for i, s in enumerate(samples):
        assert s.id == f"train/{i:06d}" and s.hr.shape == (256, 256, 3) and s.depth.shape == (256, 256)
        t = s.target
        assert t.mask.dtype == np.uint8 and t.boxes.dtype == np.float32
        assert t.box_labels.dtype == np.int64
        got = sorted(zip(map(tuple, t.boxes.astype(int).tolist()), t.box_labels.tolist()))
        want = []
        for k in (1, 2, 3):
            comps = _components(t.mask, k)
            assert all(c[4] >= PIPE_MIN_PIXELS for c in comps)
            want += [(c[:4], k) for c in comps]
        assert got == sorted(want)
        n_boxes += len(got)
        # The mask is the label buffer of the re-rendered scene, small parts set to ignore.
        rng = ds.rng("train", i)
        shot = sample_shot(rng, 256, 256, ds._codes(rng))
        f = render_sequence(shot, 1)[0]
        assert np.array_equal(f["rgb"], s.hr)
        full = index_mask(f["label"], ds.classes)
        keep = t.mask != 255
        assert np.array_equal(t.mask[keep], full[keep]) and np.all(full[~keep] > 0)
    assert n_boxes >= 5


def test_cls_labels_agree_with_label_buffer():
    ds = SynthSewerCls(seed=1, n_train=24, n_val=1, n_test=1)
    assert ds.classes[:3] == ["RB", "OB", "PF"] and len(ds.classes) == 17
    samples = ds.split("train")
    normal = 0
    for i, s in enumerate(samples):
        assert s.hr.shape == (224, 224, 3) and s.target.labels.shape == (17,)
        rng = ds.rng("train", i)
        shot = ds.shot(rng, ds._codes(rng))  # the cls view's placement
        f = render_sequence(shot, 1)[0]
        assert np.array_equal(f["rgb"], s.hr)
        counts = np.array([(f["label"] == LABEL_CODES.index(c) + 1).sum() for c in ds.classes])
        assert np.array_equal(s.target.labels, (counts >= CLS_MIN_PIXELS).astype(np.uint8))
        normal += s.target.labels.sum() == 0
    assert 0.2 <= normal / len(samples) <= 0.75
    assert sum(s.target.labels.sum() > 0 for s in samples) >= 6


def test_sr_view_sequences_and_refs():
    ds = SynthSewerSR(seed=0, n_train=10, n_val=1, n_test=1)
    s = ds.split("train")
    assert len(s) == 10 and ds.classes == []
    assert s[0].hr.shape == (320, 448, 3) and s[0].hr.dtype == np.uint8
    assert s[0].depth.shape == (320, 448) and s[0].depth.dtype == np.float32
    assert len(s[0].refs) == 1 and len(s[0].ref_depths) == 1
    # Advancing along a straight pipe leaves per-pixel depth unchanged.
    assert np.array_equal(s[0].depth, s[0].ref_depths[0]) and s[0].depth.min() > 0
    for a, b in zip(s[:7], s[1:8]):  # one sequence of 8: the ref is the next frame
        assert np.array_equal(a.refs[0], b.hr)
    assert not np.array_equal(s[7].refs[0], s[8].hr)  # a new sequence starts at 8


def test_determinism_and_disjoint_splits():
    a = SynthSewerPipe(seed=7, n_train=3, n_val=3, n_test=3)
    b = SynthSewerPipe(seed=7, n_train=3, n_val=3, n_test=3)
    c = SynthSewerPipe(seed=8, n_train=3, n_val=3, n_test=3)
    ga, gb, gc = a.generate_unit("val", 1), b.generate_unit("val", 1), c.generate_unit("val", 1)
    for k in ga:
        assert np.array_equal(ga[k], gb[k]) and ga[k].dtype == gb[k].dtype
    assert not np.array_equal(ga["frames"], gc["frames"])
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    hashes = {sp: {hashlib.sha1(s.hr.tobytes()).hexdigest() for s in a.split(sp)}
              for sp in ("train", "val", "test")}
    assert not (hashes["train"] & hashes["val"] or hashes["train"] & hashes["test"]
                or hashes["val"] & hashes["test"])


def test_cache_roundtrip_and_corrupt_file(monkeypatch):
    ds = SynthSewerCls(seed=2, n_train=1, n_val=2, n_test=1)
    first = [x.hr.copy() for x in ds.split("val")]
    path = ds.unit_path("val", 1)
    assert path.exists() and not list(path.parent.glob(".tmp-*"))
    assert sorted(p.name for p in path.parent.iterdir()) == ["000000.npz", "000001.npz"]
    again = SynthSewerCls(seed=2, n_train=1, n_val=2, n_test=1)
    with monkeypatch.context() as m:
        m.setattr(SynthSewerCls, "generate_unit", lambda *a: pytest.fail("not cached"))
        assert all(np.array_equal(x.hr, y) for x, y in zip(again.split("val"), first))
    path.write_bytes(b"not a zip file")
    fresh = SynthSewerCls(seed=2, n_train=1, n_val=2, n_test=1)
    assert all(np.array_equal(x.hr, y) for x, y in zip(fresh.split("val"), first))
    assert path.stat().st_size > 1000  # rewritten


def test_split_is_lazy_and_indexable(monkeypatch):
    """A split reads its unit files on access: nothing of it is held but the last unit."""
    ds = SynthSewerSR(seed=1, n_train=10, n_val=0, n_test=0)
    split = ds.split("train")
    assert len(split) == 10 and split[-1].id == split[9].id == "train/000009"
    with pytest.raises(IndexError):
        split[10]
    assert [s.id for s in split[8:]] == ["train/000008", "train/000009"]
    loads = []
    real = SynthSewerSR.load_unit
    monkeypatch.setattr(SynthSewerSR, "load_unit", lambda self, sp, u: loads.append(u) or real(self, sp, u))
    fresh = SynthSewerSR(seed=1, n_train=10, n_val=0, n_test=0).split("train")
    ids = [s.id for s in fresh]  # in order: each sequence file is read once
    assert len(ids) == 10 and loads == [0, 1]
    assert np.array_equal(fresh[7].refs[0], ds.generate_unit("train", 0)["frames"][8])


def test_bad_arguments():
    from bench.errors import ConfigError

    with pytest.raises(ConfigError):
        SynthSewerSR(seed=-1)
    with pytest.raises(ConfigError):
        SynthSewerSR(seed=0).split("training")
