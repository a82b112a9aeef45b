"""The metric catalogue: name -> unit, direction, description. Drives Δ signs, rankings,
display units and `bench check`; nothing else hard-codes a metric name or a direction.

Image-quality and cost metrics are the harness's own; every task adds its metrics through its
spec (`TaskSpec.metrics`). `metric_info(name)` looks in both and refuses unknown names.
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


METRICS: dict[str, MetricInfo] = {m.name: m for m in [
    MetricInfo("psnr_y", "PSNR on Y (BT.601, 16-235), crop border = scale", unit="dB"),
    MetricInfo("ssim_y", "SSIM on Y, 11x11 Gaussian sigma 1.5, crop border = scale"),
    MetricInfo("psnr_rgb", "PSNR on RGB, crop border = scale", unit="dB"),
    MetricInfo("ssim_rgb", "SSIM on RGB (mean of channels), crop border = scale"),
    MetricInfo("params", "parameters", higher_is_better=False),
    MetricInfo("macs", "multiply-accumulates at LR 128x128 (Ref 512x512)", higher_is_better=False),
    MetricInfo("paper_gflops", "the paper's GFLOPs convention (Table 2)", higher_is_better=False),
    MetricInfo("latency_ms", "median warm latency", higher_is_better=False, unit="ms"),
    MetricInfo("n_images", "number of test images a quality row averages over (a count, not a "
                           "score)", unit="images"),
    MetricInfo("latency_q1_ms", "first quartile of the warm latencies", higher_is_better=False,
               unit="ms"),
    MetricInfo("latency_q3_ms", "third quartile of the warm latencies", higher_is_better=False,
               unit="ms"),
]}


def catalogue() -> dict[str, MetricInfo]:
    """Every metric: the harness's plus those of every registered task."""
    from tasks import TASKS

    out = dict(METRICS)
    for task in TASKS.names():
        for m in TASKS.get(task).metrics:
            out.setdefault(m.name, m)
    return out


def metric_info(name: str) -> MetricInfo:
    from bench.errors import BenchError
    from bench.registry import did_you_mean

    known = catalogue()
    if name not in known:
        raise BenchError(f"unknown metric {name!r}.{did_you_mean(name, known)} "
                         f"Known: {', '.join(sorted(known))}")
    return known[name]


def higher_is_better(metric: str) -> bool:
    return metric_info(metric).higher_is_better
