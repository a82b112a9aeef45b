"""PSNR and SSIM, the SISR convention (DESIGN section 3).

- Inputs: uint8 (H, W, 3) RGB arrays, or float arrays: on the 0-255 scale, or in [0, 1]
  (every value of both images <= 1.0), which is scaled by 255 first. Anything else is
  refused with a ValueError: other integer types (uint16...), negative, non-finite or > 255
  values, and images too small for the metric after the border crop (SSIM needs at least
  11x11 pixels, the window).
- `crop_border` pixels are removed from every side first (convention: crop = scale).
- Y channel: ITU-R BT.601 luma on the 16-235 range, Y = 16 + (65.481 R + 128.553 G +
  24.966 B) / 255 with R, G, B in [0, 255] (what MATLAB's rgb2ycbcr and the SR literature use).
  Computed in float64, not rounded.
- PSNR: data range 255. SSIM: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
  data range 255, sample covariance like scikit-image's `gaussian_weights=True,
  use_sample_covariance=False`; the mean is taken over the valid (non-padded) region of the
  filtered image, like skimage (which crops (win_size-1)//2 = 5 pixels). On RGB the SSIM is the
  mean of the per-channel SSIMs.

Agreement with `skimage.metrics.peak_signal_noise_ratio` / `structural_similarity` to 1e-4 is
tested in tests/test_image_quality.py. The implementation uses scipy's separable Gaussian
filter, which is what skimage uses under the hood, but vectorised over channels.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

SSIM_SIGMA = 1.5
SSIM_WIN = 11
_K1, _K2 = 0.01, 0.03


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma (16-235) of an RGB image on the 0-255 scale; float64 (H, W)."""
    x = img.astype(np.float64)
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def _to_255(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images on the 0-255 scale (see the module doc for what is accepted)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        return a, b
    for x in (a, b):
        if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"image dtype {x.dtype}: expected uint8 (0-255) or float "
                             "(0-255 or [0, 1])")
        if x.size and not np.isfinite(x).all():
            raise ValueError("image has non-finite values (NaN or inf)")
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(f"image values in [{float(x.min()):g}, {float(x.max()):g}]: "
                             "expected 0-255 (or [0, 1] floats)")
    floats = [x for x in (a, b) if x.dtype != np.uint8]
    unit = all(x.size == 0 or x.max() <= 1.0 for x in floats)
    if unit and len(floats) == 2:
        return a.astype(np.float64) * 255.0, b.astype(np.float64) * 255.0
    if unit and max(a.max(initial=0), b.max(initial=0)) > 1.0:
        raise ValueError("one image is uint8 (0-255), the other a float in [0, 1]: give both "
                         "on the same scale")
    return a, b


def _prepare(a: np.ndarray, b: np.ndarray, crop_border: int, y_channel: bool,
             min_side: int = 1):
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) RGB arrays, got {a.shape}")
    h, w = a.shape[0] - 2 * crop_border, a.shape[1] - 2 * crop_border
    if min(h, w) < min_side:
        raise ValueError(f"image {a.shape[1]}x{a.shape[0]} (WxH) is {max(w, 0)}x{max(h, 0)} after "
                         f"the {crop_border}-pixel border crop; the metric needs at least "
                         f"{min_side}x{min_side}")
    a, b = _to_255(a, b)
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        return rgb_to_y(a)[..., None], rgb_to_y(b)[..., None]
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, crop_border: int = 4, y_channel: bool = True) -> float:
    x, y = _prepare(a, b, crop_border, y_channel)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * np.log10(255.0**2 / mse)


def _filter(x: np.ndarray) -> np.ndarray:
    # truncate chosen so the kernel radius is exactly (SSIM_WIN - 1) / 2 = 5, as in skimage
    truncate = ((SSIM_WIN - 1) / 2) / SSIM_SIGMA
    return gaussian_filter(x, sigma=(SSIM_SIGMA, SSIM_SIGMA, 0), truncate=truncate)


def ssim(a: np.ndarray, b: np.ndarray, crop_border: int = 4, y_channel: bool = True) -> float:
    x, y = _prepare(a, b, crop_border, y_channel, min_side=SSIM_WIN)
    c1, c2 = (_K1 * 255.0) ** 2, (_K2 * 255.0) ** 2
    mu_x, mu_y = _filter(x), _filter(y)
    xx, yy, xy = _filter(x * x), _filter(y * y), _filter(x * y)
    sxx, syy, sxy = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    pad = (SSIM_WIN - 1) // 2
    smap = (num / den)[pad:-pad, pad:-pad]
    return float(smap.mean())


def quality_row(sr: np.ndarray, hr: np.ndarray, scale: int) -> dict[str, float]:
    """All four numbers the harness reports for one image."""
    return {
        "psnr_y": psnr(sr, hr, scale, True),
        "ssim_y": ssim(sr, hr, scale, True),
        "psnr_rgb": psnr(sr, hr, scale, False),
        "ssim_rgb": ssim(sr, hr, scale, False),
    }
