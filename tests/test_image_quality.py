"""PSNR/SSIM agree with scikit-image on the same inputs (DESIGN section 3: to 1e-4)."""
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.metrics.image_quality import psnr, rgb_to_y, ssim


def _pair(kind: str, seed: int):
    rng = np.random.default_rng(seed)
    if kind == "random":
        a = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        noise = rng.normal(0, 12, a.shape)
    else:  # structured: gradients, edges, a disk; mild noise
        yy, xx = np.mgrid[0:48, 0:64]
        base = np.stack([xx * 4, yy * 5, ((xx - 32) ** 2 + (yy - 24) ** 2 < 150) * 200], -1)
        a = np.clip(base, 0, 255).astype(np.uint8)
        noise = rng.normal(0, 5, a.shape)
    b = np.clip(a + noise, 0, 255).astype(np.uint8)
    return a, b


def _sk_ssim(x, y, channel_axis=None):
    return structural_similarity(x, y, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=channel_axis)


@pytest.mark.parametrize("kind", ["random", "structured"])
@pytest.mark.parametrize("crop", [0, 4])
def test_matches_skimage(kind, crop):
    a, b = _pair(kind, seed=crop + len(kind))
    c = slice(crop, -crop) if crop else slice(None)
    ya, yb = rgb_to_y(a)[c, c], rgb_to_y(b)[c, c]
    ra, rb = a[c, c].astype(np.float64), b[c, c].astype(np.float64)
    assert psnr(a, b, crop, True) == pytest.approx(peak_signal_noise_ratio(ya, yb, data_range=255), abs=1e-4)
    assert psnr(a, b, crop, False) == pytest.approx(peak_signal_noise_ratio(ra, rb, data_range=255), abs=1e-4)
    assert ssim(a, b, crop, True) == pytest.approx(_sk_ssim(ya, yb), abs=1e-4)
    assert ssim(a, b, crop, False) == pytest.approx(_sk_ssim(ra, rb, channel_axis=2), abs=1e-4)


def test_y_channel_is_bt601():
    white = np.full((1, 1, 3), 255, np.uint8)
    black = np.zeros((1, 1, 3), np.uint8)
    assert rgb_to_y(white)[0, 0] == pytest.approx(235.0, abs=1e-3)
    assert rgb_to_y(black)[0, 0] == pytest.approx(16.0)


def test_identical_images_and_shape_errors():
    a, _ = _pair("structured", 0)
    assert psnr(a, a) == float("inf")
    assert ssim(a, a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, a[:-1])
