"""Intervals for every cell of a Δ table from the replays of the stored evaluation states.

`Resampled(replays, settings)` draws, per task seed, B image resamples shared by every variant
and model of that seed (paired), and evaluates each (seed, variant) replay once on them.
`table_intervals` then forms, per resample, the table's columns exactly as the point table
does (values, ΔLR = LR − HR, ΔSR = SR − LR, ΔHR = HR − SR with the metric's sign, display
scale, gap closure GC = (SR − LR)/(HR − LR)), averaged over seeds by the two-level bootstrap
(bootstrap.two_level), and takes percentile intervals. A pure function of the store and
`stats.*`: recomputing gives the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.stats.bootstrap import (Settings, percentile_interval, resample_counts, rng_for,
                                   seed_draws, two_level)

SEED_STREAM = 0x5EED  # rng_for part of the seed draws (images use the task seed itself)


class NotPaired(ValueError):
    """Variants of one seed were evaluated on different test images."""


class Resampled:
    """replays: {task seed: {variant: Replay}} (variant = the store's variant string)."""

    def __init__(self, replays: dict[int, dict[str, object]], settings: Settings):
        self.settings = settings
        self.seeds = sorted(replays)
        self.values: dict[tuple[int, str], tuple[list, np.ndarray]] = {}
        self.n_images: dict[int, int] = {}
        self.weights: dict[int, np.ndarray] = {}
        for seed in self.seeds:
            ids = None
            for variant, replay in sorted(replays[seed].items()):
                if ids is None:
                    ids = list(replay.ids)
                elif list(replay.ids) != ids:
                    raise NotPaired(f"seed {seed}: {variant} was evaluated on other test images "
                                    "than the other variants; the paired bootstrap needs the same")
            self.n_images[seed] = len(ids or [])
            w = resample_counts(len(ids or []), settings.bootstrap, rng_for(settings, seed))
            self.weights[seed] = w
            for variant, replay in replays[seed].items():
                self.values[(seed, variant)] = (list(replay.keys), replay.values(w))
        first = replays[self.seeds[0]] if self.seeds else {}
        some = next(iter(first.values()), None)
        self.instances: dict[str, int] = some.instances() if some is not None else {}
        self.instance_unit: str = getattr(some, "instance_unit", "")
        self.draws = seed_draws(len(self.seeds), settings.bootstrap,
                                rng_for(settings, SEED_STREAM))

    def variant(self, variant: str, keys: list[tuple[str, str]]) -> np.ndarray | None:
        """(B, len(keys)) replicates of the seed mean of `keys` on `variant`; None if a seed
        lacks the variant. A key a replay does not have is NaN."""
        per_seed = []
        for seed in self.seeds:
            if (seed, variant) not in self.values:
                return None
            have, vals = self.values[(seed, variant)]
            col = {k: i for i, k in enumerate(have)}
            out = np.full((len(vals), len(keys)), np.nan)
            for j, k in enumerate(keys):
                if k in col:
                    out[:, j] = vals[:, col[k]]
            per_seed.append(out)
        return two_level(per_seed, self.draws)


@dataclass
class TableIntervals:
    lo: pd.DataFrame                 # rows x columns of the table, display units
    hi: pd.DataFrame
    gap_lo: pd.DataFrame             # rows x backends, fraction
    gap_hi: pd.DataFrame
    settings: Settings
    n_images: int
    n_seeds: int
    instances: dict[str, int] = field(default_factory=dict)
    instance_unit: str = ""
    # (a, b) -> (lo, hi of SR(a) − SR(b) in display units, lo, hi of GC(a) − GC(b))
    contrast: dict[tuple[str, str], tuple[pd.Series, ...]] = field(default_factory=dict)

    @property
    def method(self) -> str:
        s = self.settings
        what = (f"paired percentile bootstrap over the {self.n_images} test images (B={s.bootstrap}, "
                f"{100 * s.level:g}% intervals, stats.seed={s.seed}; the same resampled images "
                "for every variant)")
        if self.n_seeds == 1:
            return what + "; test-image sampling only, training variance not included"
        return (what + f"; two-level over {self.n_seeds} seeds (seeds resampled, then images "
                "within each seed): covers training-seed and test-image variance")


def table_intervals(res: Resampled, rows: list[str], metric: str, foreign: dict[str, str],
                    backends: list[str], sign: float, scale: float,
                    sr_labels: dict[str, str] | None = None,
                    pairs: list[tuple[str, str]] = ()) -> TableIntervals:
    """`sr_labels`: backend -> its variant label in the store (bench.variants.sr_label);
    `pairs`: (a, b) SR columns whose paired difference SR(a) − SR(b) and GC(a) − GC(b) =
    (SR(a) − SR(b)) / (HR − LR) get intervals (bench/report/contrast.py)."""
    keys = [(c, foreign.get(c, metric)) for c in rows]
    lr, hr = res.variant("LR", keys), res.variant("HR", keys)
    sr = {b: res.variant((sr_labels or {}).get(b, b), keys) for b in backends}
    cols: dict[str, np.ndarray | None] = {"LR": lr}
    cols.update({f"SR({b})": sr[b] for b in backends})
    cols["HR"] = hr

    def diff(a, b):  # type: ignore[no-untyped-def]
        return None if a is None or b is None else sign * (a - b)

    cols["ΔLR"] = diff(lr, hr)
    cols.update({f"ΔSR({b})": diff(sr[b], lr) for b in backends})
    cols.update({f"ΔHR({b})": diff(hr, sr[b]) for b in backends})
    lo = pd.DataFrame(index=rows, columns=list(cols), dtype=float)
    hi = lo.copy()
    for name, x in cols.items():
        if x is not None:
            lo[name], hi[name] = percentile_interval(x * scale, res.settings.level)
    gap_lo = pd.DataFrame(index=rows, columns=backends, dtype=float)
    gap_hi = gap_lo.copy()
    for b in backends:
        if lr is not None and hr is not None and sr[b] is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                gc = (sr[b] - lr) / (hr - lr)
            gap_lo[b], gap_hi[b] = percentile_interval(gc, res.settings.level)
    contrast = {}
    for a, b in pairs:
        if sr.get(a) is None or sr.get(b) is None or lr is None or hr is None:
            continue
        d_lo, d_hi = percentile_interval(sign * (sr[a] - sr[b]) * scale, res.settings.level)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_lo, g_hi = percentile_interval((sr[a] - sr[b]) / (hr - lr), res.settings.level)
        contrast[(a, b)] = tuple(pd.Series(np.asarray(v, dtype=float), index=rows)
                                 for v in (d_lo, d_hi, g_lo, g_hi))
    n = sorted(set(res.n_images.values()))
    return TableIntervals(lo, hi, gap_lo, gap_hi, res.settings, n[0] if len(n) == 1 else -1,
                          len(res.seeds), contrast=contrast)
