"""`DegradationConfig`: the HR -> LR degradation settings, validated once.

Kept apart from `bench.degrade` (which imports torch) so that loading a config, and with it
`bench --help` and `bench ls ...`, never pays for importing torch. `bench.degrade` re-exports it.
"""
from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field


class DegradationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    scale: int = Field(4, ge=1, le=8, description="downsampling factor")
    blur_sigma: float = Field(0.0, ge=0.0, description="Gaussian blur sigma (HR pixels); 0 = off")
    noise_sigma: float = Field(0.0, ge=0.0, description="Gaussian noise sigma on the 0-255 scale; 0 = off")
    jpeg_quality: int = Field(0, ge=0, le=100, description="JPEG quality; 0 = no JPEG round-trip")

    def fingerprint(self) -> str:
        text = f"bicubic-aa-torch|{self.model_dump_json()}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]
