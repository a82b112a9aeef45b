"""Metric catalogue: name -> (what it is, higher is better). Drives Δ signs and rankings."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    description: str
    higher_is_better: bool = True


METRICS: dict[str, MetricInfo] = {m.name: m for m in [
    MetricInfo("psnr_y", "PSNR on Y (BT.601, 16-235), crop border = scale, dB"),
    MetricInfo("ssim_y", "SSIM on Y, 11x11 Gaussian sigma 1.5, crop border = scale"),
    MetricInfo("psnr_rgb", "PSNR on RGB, crop border = scale, dB"),
    MetricInfo("ssim_rgb", "SSIM on RGB (mean of channels), crop border = scale"),
    MetricInfo("iou", "per-class IoU from one confusion matrix over the split; Mean = classes present"),
    MetricInfo("params", "parameters", higher_is_better=False),
    MetricInfo("macs", "multiply-accumulates at LR 128x128 (Ref 512x512)", higher_is_better=False),
    MetricInfo("paper_gflops", "the paper's GFLOPs convention (Table 2)", higher_is_better=False),
    MetricInfo("latency_ms", "median warm latency", higher_is_better=False),
]}


def higher_is_better(metric: str) -> bool:
    info = METRICS.get(metric)
    return True if info is None else info.higher_is_better
