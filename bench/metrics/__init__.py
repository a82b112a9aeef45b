"""The harness's own metrics: name -> unit, direction, description, group. Pure core: it
imports nothing above it (no plug-ins), so task specs may import `MetricInfo` from here.

The full catalogue (these plus every task's `TaskSpec.metrics`) is assembled at the boundary,
in bench/catalogue.py (`catalogue`, `metric_info`, `higher_is_better`); it drives Δ signs,
rankings, display units and `bench check`. Nothing else hard-codes a metric name or a
direction: lists of harness metrics come from `names_in(group)`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    description: str
    higher_is_better: bool = True
    unit: str = ""
    # Stored values are multiplied by this for display (fractions shown in %: 100).
    display_scale: float = 1.0
    # Harness metrics: "quality" (eval-sr), "cost" (static counts), "latency" (timed), "count".
    group: str = ""


# In display order within each group (the leaderboard's column order).
METRICS: dict[str, MetricInfo] = {m.name: m for m in [
    MetricInfo("psnr_y", "PSNR on Y (BT.601, 16-235), crop border = scale", unit="dB",
               group="quality"),
    MetricInfo("ssim_y", "SSIM on Y, 11x11 Gaussian sigma 1.5, crop border = scale",
               group="quality"),
    MetricInfo("psnr_rgb", "PSNR on RGB, crop border = scale", unit="dB", group="quality"),
    MetricInfo("ssim_rgb", "SSIM on RGB (mean of channels), crop border = scale",
               group="quality"),
    MetricInfo("macs", "multiply-accumulates at LR 128x128 (Ref 512x512)", higher_is_better=False,
               group="cost"),
    MetricInfo("paper_gflops", "a reconstruction of the GFLOPs convention behind the paper's "
               "Table 2 (its rules are not stated)", higher_is_better=False,
               group="cost"),
    MetricInfo("params", "parameters", higher_is_better=False, group="cost"),
    MetricInfo("latency_ms", "median warm latency", higher_is_better=False, unit="ms",
               group="latency"),
    MetricInfo("latency_q1_ms", "first quartile of the warm latencies", higher_is_better=False,
               unit="ms", group="latency"),
    MetricInfo("latency_q3_ms", "third quartile of the warm latencies", higher_is_better=False,
               unit="ms", group="latency"),
    MetricInfo("n_images", "number of test images a quality row averages over (a count, not a "
                           "score)", unit="images", group="count"),
]}


def names_in(group: str) -> tuple[str, ...]:
    """The harness metrics of `group`, in display order."""
    return tuple(m.name for m in METRICS.values() if m.group == group)
