"""SynthSewer-cls fine-detail codes (bench/datasets/synth_fine.py): the grain is the pixel
scale it claims, the texture is there at HR and gone after the harness's x4 degradation, and
the SR and pipe views never take the fine path (their bytes stay those of synthsewer-1)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench import degrade
from bench.datasets.synth_defects import LABEL_ID, SEWER_ML_CODES
from bench.datasets.synth_fine import FINE_DRAW
from bench.datasets.synth_geometry import project_wall_point
from bench.datasets.synthsewer import SynthSewerCls, SynthSewerPipe, SynthSewerSR, render_sequence

# RB, OB, RO, BE, AF: one shot each, found by scanning test units of seed 123 (a unit whose
# codes include the code, with >= 400 label pixels of it so the blob is more than a sliver).
SEED = 123


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))


def _shots_with(code: str, want: int = 2):
    ds = SynthSewerCls(seed=SEED, n_train=0, n_val=0, n_test=0)
    found = []
    for u in range(400):
        rng = ds.rng("test", u)
        codes = ds._codes(rng)
        if code not in codes:
            continue
        rng = ds.rng("test", u)
        shot = ds.shot(rng, ds._codes(rng))
        frame = render_sequence(shot, 1)[0]
        if (frame["label"] == LABEL_ID[code]).sum() >= 400:
            found.append((shot, frame))
            if len(found) == want:
                return found
    raise AssertionError(f"no {code} shot in 400 units")


def _lr(rgb: np.ndarray) -> np.ndarray:
    """The harness's LR variant: x4 antialiased bicubic down, bicubic back (bench.degrade)."""
    x = degrade.to_tensor(rgb)
    return degrade.to_uint8(degrade.upsample_to(degrade.downsample(x, 4), rgb.shape[:2]))


def test_fine_codes_are_sewer_ml_codes_and_other_views_never_draw_them():
    assert set(FINE_DRAW) <= set(SEWER_ML_CODES)
    assert SynthSewerCls.placement.grain_px > 0
    for view in (SynthSewerSR, SynthSewerPipe):  # no grain: the coarse drawings, same bytes
        assert view.placement.grain_px == 0 and view.version == "synthsewer-1"
        ds = view(seed=0, n_train=0, n_val=0, n_test=0)
        for u in range(20):
            rng = ds.rng("test", u)
            shot = ds.shot(rng, ["RB", "OB", "RO", "BE", "AF", "JO"])
            assert all(d.grain is None for d in shot.scene.defects)


def test_a_grain_is_grain_px_pixels_of_the_first_frame_everywhere():
    """Texture coordinates of the wall point under each labelled pixel of the first frame
    (the renderer's own theta / z_wall) step by 1 / grain_px per pixel, near or far, on the
    side walls or the crown: the texture's period in pixels does not depend on where it is."""
    px = SynthSewerCls.placement.grain_px
    for code in ("RB", "RO"):
        for shot, frame in _shots_with(code):
            d = next(d for d in shot.scene.defects if d.code == code)
            mask = frame["label"] == LABEL_ID[code]
            x, y = d.grain.coords(shot.scene.radius, frame["theta"].astype(float),
                                  frame["z_wall"].astype(float))
            both = mask[:, 1:] & mask[:, :-1]
            assert both.sum() > 100
            np.testing.assert_allclose(np.diff(x, axis=1)[both], 1 / px, rtol=0.02)
            np.testing.assert_allclose(np.diff(y, axis=1)[both], 0, atol=0.02 / px)
            both = mask[1:] & mask[:-1]
            np.testing.assert_allclose(np.diff(y, axis=0)[both], 1 / px, rtol=0.02)


@pytest.mark.parametrize("code", sorted(FINE_DRAW))
def test_fine_texture_is_there_at_hr_and_gone_at_x4(code):
    """The image difference the defect makes inside its label: strong at HR, under a third of
    that on the LR variant, and no coarse tint (the mean shift stays small)."""
    for shot, frame in _shots_with(code):
        without = replace(shot, scene=replace(
            shot.scene, defects=tuple(d for d in shot.scene.defects if d.code != code)))
        plain = render_sequence(without, 1)[0]["rgb"]
        mask = frame["label"] == LABEL_ID[code]
        hr = frame["rgb"].astype(float).mean(-1) - plain.astype(float).mean(-1)
        lr = _lr(frame["rgb"]).astype(float).mean(-1) - _lr(plain).astype(float).mean(-1)
        rms_hr, rms_lr = np.sqrt((hr[mask] ** 2).mean()), np.sqrt((lr[mask] ** 2).mean())
        assert rms_hr > 12, (code, rms_hr)
        assert rms_lr < rms_hr / 3, (code, rms_hr, rms_lr)
        assert abs(lr[mask].mean()) < rms_hr / 4, (code, rms_hr, lr[mask].mean())


def test_fine_texture_is_the_same_on_the_wall_in_the_reference_frame():
    """The grain is fixed on the wall: the texture at a wall point is the same in frame 1."""
    shot, f0 = _shots_with("OB", want=1)[0]
    f1 = render_sequence(shot, 2)[1]
    cam0, cam1 = shot.camera, shot.camera.at(shot.camera.z + shot.step)
    mask = f0["label"] == LABEL_ID["OB"]
    ii, jj = np.nonzero(mask)
    theta, zw = f0["theta"][ii, jj], f0["z_wall"][ii, jj]
    u, v = project_wall_point(cam1, shot.scene.radius, theta, zw)
    ok = (u >= 0) & (u < cam1.width - 1) & (v >= 0) & (v < cam1.height - 1)
    assert ok.sum() > 200 and cam0.z < cam1.z
    a = f0["rgb"][ii[ok], jj[ok]].astype(float).mean(-1)
    b = f1["rgb"][v[ok].astype(int), u[ok].astype(int)].astype(float).mean(-1)
    assert np.corrcoef(a, b)[0, 1] > 0.5  # nearest pixel of a ~4.5-px texture: correlated
