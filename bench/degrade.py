"""HR -> LR degradation operators, seeded per sample so every LR image is reproducible.

Default: bicubic x4 downsampling with antialiasing, computed by
`torch.nn.functional.interpolate(mode="bicubic", antialias=True, align_corners=False)`
(Keys cubic a=-0.5 kernel stretched by the scale factor, i.e. the same filter as PIL's
`Image.resize(..., BICUBIC)` when reducing), then rounded to uint8 like a real 8-bit camera.
Optional, in this order: Gaussian blur before downsampling, Gaussian noise, JPEG round-trip.

The "LR" variant that task models read is the LR image brought back to HR size by bicubic
interpolation (`upsample_to`), with no antialias (it has no effect when enlarging).
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bench.degrade_config import DegradationConfig  # noqa: F401 (re-export; torch-free home)
from bench.errors import DataError


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 (H,W,3) -> float (1,3,H,W) in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().div_(255.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float (1,3,H,W) or (3,H,W) in [0,1] -> uint8 (H,W,3), rounded and clipped."""
    if t.dim() == 4:
        t = t[0]
    return t.detach().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy()


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    coords = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def downsample(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic downsampling of a float BCHW tensor (sizes must divide by scale)."""
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"HR size {h}x{w} is not divisible by the scale {scale}")
    return F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic",
                         antialias=True, align_corners=False)


def upsample_to(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic enlargement (the LR variant and the bicubic backend), clamped to [0,1]."""
    return F.interpolate(lr, size=size, mode="bicubic", align_corners=False).clamp_(0, 1)


def depth_down(depth: np.ndarray, scale: int, sample_id: str) -> torch.Tensor:
    """Depth (H, W) metres -> float32 (1, H/scale, W/scale) by averaging scale x scale cells.

    Area averaging, not bicubic: depth is a measurement, and an interpolation kernel with
    negative lobes would invent depths at occlusion edges. Exact when the size divides.
    """
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise DataError(sample_id, f"depth map must be (H, W), got shape {d.shape}")
    if not np.isfinite(d).all():
        raise DataError(sample_id, "depth map has non-finite values (inf/nan)")
    return F.avg_pool2d(torch.from_numpy(d)[None, None], scale)[0]


def sample_seed(base_seed: int, sample_id: str) -> int:
    """A per-sample seed that does not depend on the order samples are visited in."""
    digest = hashlib.sha256(f"{base_seed}|{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def degrade(hr: np.ndarray, cfg: DegradationConfig, seed: int) -> np.ndarray:
    """uint8 HR (H,W,3) -> uint8 LR (H/scale, W/scale, 3); deterministic given `seed`."""
    x = to_tensor(hr)
    if cfg.blur_sigma > 0:
        x = _gaussian_blur(x, cfg.blur_sigma)
    x = downsample(x, cfg.scale)
    if cfg.noise_sigma > 0:
        gen = torch.Generator().manual_seed(seed)
        x = x + torch.randn(x.shape, generator=gen) * (cfg.noise_sigma / 255.0)
    lr = to_uint8(x)
    if cfg.jpeg_quality > 0:
        buf = io.BytesIO()
        Image.fromarray(lr).save(buf, format="JPEG", quality=cfg.jpeg_quality)
        lr = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return lr
