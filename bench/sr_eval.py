"""Image-quality evaluation of SR backends (`bench eval-sr`): PSNR/SSIM on Y and RGB.

Every test image is degraded (or its own LR is used), upscaled by each backend (cached), and
compared with its HR at crop border = scale. One store row per (backend, metric) holds the
mean over images; `n_images` is stored alongside so a table always says what it averages.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from bench.backends import ResolvedBackend, make_lr, ref_policy_for, sr_context, upscale_cached
from bench.cache import Cache
from bench.config import BenchConfig
from bench.metrics import names_in
from bench.metrics.image_quality import quality_row
from bench.store import ResultStore, Row, cell_id
from bench.variants import Variant

QUALITY_METRICS = names_in("quality")  # from the metric catalogue


def evaluate_sr(cfg: BenchConfig, backends: list[ResolvedBackend], dataset, store: ResultStore,
                cache: Cache, device: str, split: str = "test", progress: bool = True) -> pd.DataFrame:
    """Backends must have their weights (the command trains missing ones first)."""
    samples = dataset.split(split)
    policy = ref_policy_for(samples, cfg)
    context = sr_context(dataset.fingerprint(), cfg, policy)
    for resolved in backends:
        name = resolved.name
        cell = cell_id("sr", dataset.name, split, name)
        if store.has_cell(cell):
            continue
        backend = resolved.create(cache, device, cfg)
        per_image = per_image_quality(backend, samples, cfg, cache, policy, context, progress)
        means = {m: float(np.mean([r[m] for r in per_image])) for m in QUALITY_METRICS}
        label = Variant.sr(resolved).label
        rows = [Row(store.run_id, dataset.name, "sr", name, label, "all", m, v,
                    ref_policy=policy if backend.needs_reference else "")
                for m, v in means.items()]
        rows.append(Row(store.run_id, dataset.name, "sr", name, label, "all", "n_images",
                        float(len(per_image))))
        store.append(cell, rows)
    return summarize(store.load(), [b.name for b in backends])


def per_image_quality(backend, samples, cfg: BenchConfig, cache: Cache, policy: str,
                      context: str, progress: bool = False) -> list[dict[str, float]]:
    """quality_row of each sample's SR output (from the SR cache when computed before)."""
    scale = cfg.degradation.scale
    rows = []
    for sample in tqdm(samples, desc=f"eval-sr {backend.name}", disable=not progress, leave=False):
        sr = upscale_cached(backend, sample, make_lr(sample, cfg), policy, cache, context)
        rows.append(quality_row(sr, sample.hr, scale))
    return rows


def preflight(cfg: BenchConfig, backends: list[ResolvedBackend], dataset, cache: Cache,
              device: str, split: str = "test") -> None:
    """Run each file backend (onnx:FILE, external weights) on the first test image before
    the run folder is touched: a model that loads but outputs NaN or the wrong shape is
    refused (check_sr_output) while the manifest and rows are still as they were."""
    samples = dataset.split(split)
    if not len(samples):
        return
    policy = ref_policy_for(samples, cfg)
    context = sr_context(dataset.fingerprint(), cfg, policy)
    for resolved in backends:
        if resolved.spec.needs_weights_file:
            sample = samples[0]
            upscale_cached(resolved.create(cache, device, cfg), sample, make_lr(sample, cfg),
                           policy, cache, context)


def summarize(frame: pd.DataFrame, backends: list[str] | None = None) -> pd.DataFrame:
    """backend x (psnr_y, ssim_y, psnr_rgb, ssim_rgb, n_images) from store rows."""
    sr = frame[frame["task"] == "sr"]
    if backends is not None:
        sr = sr[sr["model"].isin(backends)]
    table = sr.pivot_table(index="model", columns="metric", values="value", aggfunc="mean")
    cols = [c for c in (*QUALITY_METRICS, *names_in("count")) if c in table.columns]
    table = table[cols]
    if "n_images" in table:
        table["n_images"] = table["n_images"].astype(int)
    if backends is not None:
        table = table.reindex([b for b in backends if b in table.index])
    return table


def run_dir_for(cfg: BenchConfig, prefix: str, *extra: str) -> Path:
    """Same config + same command -> same run folder, so a rerun resumes it."""
    from bench.cache import key_of

    return Path(cfg.out) / f"{prefix}-{key_of(cfg.fingerprint(), *extra)[:10]}"
