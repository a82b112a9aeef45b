"""Resamples and percentile intervals.

A resample of N test images is a row of counts (how often each image is drawn, summing to N),
so a statistic that is a function of per-image counts is evaluated for all B resamples at once
as (B x N) counts @ (N x K) per-image statistics. The draws for a seed depend only on
(stats.seed, that seed, N, B): the same resampled ids serve HR, LR and every SR variant (and
every model) of the seed — the bootstrap is paired.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Settings:
    """`stats.*` of the config (validated in bench/config.py)."""

    bootstrap: int = 1000   # B, resamples
    level: float = 0.95     # central coverage of the percentile interval
    seed: int = 0           # base seed of the draws


def rng_for(settings: Settings, *parts: int) -> np.random.Generator:
    """The generator of one stream of draws (e.g. parts = (task seed,)), reproducible."""
    return np.random.default_rng([settings.seed & 0xFFFFFFFF, *(int(p) & 0xFFFFFFFF for p in parts)])


def resample_counts(n: int, b: int, rng: np.random.Generator) -> np.ndarray:
    """(b, n) int64: row r counts how often each of n items is drawn in resample r."""
    if n == 0:
        return np.zeros((b, 0), np.int64)
    idx = rng.integers(0, n, size=(b, n))
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n)


def percentile_interval(samples: np.ndarray, level: float, min_finite: float = 0.5
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0; NaN where fewer than `min_finite` of the resamples
    give a finite value (a statistic undefined in most resamples has no interval)."""
    samples = np.asarray(samples, np.float64)
    finite = np.isfinite(samples)
    alpha = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        clean = np.where(finite, samples, np.nan)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            lo, hi = np.nanpercentile(clean, [100 * alpha, 100 * (1 - alpha)], axis=0)
    bad = finite.mean(axis=0) < min_finite if len(samples) else np.ones(samples.shape[1:], bool)
    lo, hi = np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)
    return lo, hi


def seed_draws(n_seeds: int, b: int, rng: np.random.Generator) -> np.ndarray:
    """(b, n_seeds): the seeds drawn (with replacement) by each two-level replicate."""
    return rng.integers(0, n_seeds, size=(b, n_seeds))


def two_level(per_seed: list[np.ndarray], draws: np.ndarray) -> np.ndarray:
    """Replicates of the mean over seeds, resampling seeds, then images within each seed:
    replicate b takes the S seeds `draws[b]`; its j-th draw of seed s uses that seed's image
    resample (b*S + j) mod B, so the draws of one replicate use distinct image resamples.
    per_seed[s]: (B, ...) values of seed s under its own image resamples. Returns (B, ...).
    With one seed this is that seed's image bootstrap."""
    stack = np.stack(per_seed)                     # (S, B, ...)
    s, b = stack.shape[:2]
    if s == 1:
        return stack[0]
    rows = (np.arange(b)[:, None] * s + np.arange(s)[None, :]) % b
    return stack[draws, rows].mean(axis=1)
