"""benchmarks/sr_scenes.py's region split: the PSNR-Y gain of each mask region, pooled over
images, equals skimage's PSNR of those pixels; the bootstrap draws resample images."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from bench.config import load_config
from bench.datasets.base import Sample, Target
from bench.metrics.image_quality import rgb_to_y
from conftest import benchmark_script


def _script():
    return benchmark_script("sr_scenes")


def _samples(rng, n=3, size=24):
    out = []
    for i in range(n):
        mask = rng.integers(0, 3, (size, size)).astype(np.uint8)
        mask[0, :] = 255  # ignore pixels count in no region
        hr = rng.integers(20, 230, (size, size, 3)).astype(np.uint8)
        out.append(Sample(id=f"test/{i}", hr=hr, target=Target(mask=mask)))
    return out


def test_region_gain_matches_skimage_psnr(monkeypatch):
    import bench.backends

    rng = np.random.default_rng(0)
    samples = _samples(rng)
    noise = {"bicubic": 12, "better": 5}
    outputs = {(name, s.id): np.clip(s.hr.astype(int) + rng.integers(-a, a + 1, s.hr.shape),
                                     0, 255).astype(np.uint8)
               for name, a in noise.items() for s in samples}
    monkeypatch.setattr(bench.backends, "upscale_cached",
                        lambda backend, sample, lr, *a: outputs[(backend.name, sample.id)])
    monkeypatch.setattr(bench.backends, "make_lr", lambda sample, cfg: None)
    cfg = load_config("smoke")
    c = cfg.degradation.scale
    backends = {n: SimpleNamespace(name=n) for n in noise}
    draws = np.array([[0, 1, 2], [2, 2, 0]])
    out = _script().by_region(backends, samples, ["A", "B"], cfg, None, "self", "", draws)

    def region_psnr(name, region, idx):
        hr, sr = [], []
        for i in idx:
            s = samples[i]
            keep = s.target.mask[c:-c, c:-c] == region
            hr.append(rgb_to_y(s.hr)[c:-c, c:-c][keep])
            sr.append(rgb_to_y(outputs[(name, s.id)])[c:-c, c:-c][keep])
        return peak_signal_noise_ratio(np.concatenate(hr), np.concatenate(sr), data_range=255)

    for k, region in enumerate(["background", "A", "B"]):
        got = out["better"][region]
        want = region_psnr("better", k, range(3)) - region_psnr("bicubic", k, range(3))
        assert got["mean_db"] == pytest.approx(want, abs=1e-9)
        assert want > 1  # less noise: a clear gain, so the check is not vacuous
        boots = [region_psnr("better", k, d) - region_psnr("bicubic", k, d) for d in draws]
        assert got["lo"] == pytest.approx(np.percentile(boots, 2.5), abs=1e-9)
        assert got["hi"] == pytest.approx(np.percentile(boots, 97.5), abs=1e-9)
        assert got["pixels"] == sum(int((s.target.mask[c:-c, c:-c] == k).sum()) for s in samples)
    assert "bicubic" not in out
