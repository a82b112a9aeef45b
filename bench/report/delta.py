"""Δ tables in the shape of the paper's Tables 3-4, derived from store rows alone.

Rows: the classes (dataset order) + the task's summary rows (TaskSpec.summary_rows, e.g. Mean
and background, which is reported separately and not part of the mean). Columns: LR, SR(b) per backend, HR, ΔLR, ΔSR(b), ΔHR(b), where for a metric that is
higher-is-better (paper eqs. 24-26)
    ΔLR = LR - HR,   ΔSR(b) = SR(b) - LR,   ΔHR(b) = HR - SR(b).
For a lower-is-better metric the signs flip, so a positive Δ always means "better"; the
direction and the display unit come from the metric catalogue (bench/metrics). Deltas are
computed per seed and then summarised, so with several seeds every cell reads mean ± std over
seeds. Fractions are shown in % like the paper (mIoU%).

Gap closure (issue 10), per class and SR backend: GC(b) = (SR(b) − LR) / (HR − LR), the share
of the resolution loss the backend wins back (1 = all of it, 0 = none, > 1 = SR beats HR).
It is computed from the seed means, and only where HR beats LR by at least MIN_GAP display
units (0.1 points of %): where HR − LR is smaller, or negative, there is no loss to win back
and the cell prints "–" (never a ratio over ~0). The ratio does not depend on the metric's
direction or display scale.

Presentation (values never change): a backend whose SR values equal LR in every row and seed
(bicubic: the LR variant *is* bicubic enlargement) is shown once, as LR, with a legend line,
instead of two columns of copies and Δs of zero; CSV and JSON keep every column. Terminal
tables are packed to the console width (bench/report/layout.py): at 80 columns they split
into parts rather than cut headers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.contrast import contrasts, derived_pairs
from bench.report.delta_table import MIN_GAP, NO_VALUE, NS, DeltaTable  # noqa: F401
from bench.stats.intervals import Resampled, table_intervals
from bench.variants import Variant, is_sr_label, sr_label




def gap_closure(mean: pd.DataFrame, backends: list[str], sign: float,
                scale: float) -> pd.DataFrame:
    """(SR − LR) / (HR − LR) per row and backend from mean values in store units; NaN where
    HR does not beat LR by MIN_GAP display units (no loss to win back)."""
    loss = sign * (mean["HR"] - mean["LR"])
    defined = loss * scale >= MIN_GAP - 1e-12
    out = pd.DataFrame(index=mean.index)
    for b in backends:
        gain = sign * (mean[f"SR({b})"] - mean["LR"])
        out[b] = (gain / loss.where(defined)).where(defined)
    return out.astype(float)


def _same_as_lr(wide: pd.DataFrame, backends: list[str]) -> list[str]:
    """Backends whose SR value equals LR exactly in every (seed, class) row."""
    if "LR" not in wide:
        return []
    same = []
    for b in backends:
        sr = wide.get(sr_label(b))
        if sr is not None and sr.notna().all() and ((sr - wide["LR"]).abs() <= 1e-12).all():
            same.append(b)
    return same


def _columns(backends: list[str]) -> list[str]:
    return (["LR"] + [f"SR({b})" for b in backends] + ["HR", "ΔLR"]
            + [f"ΔSR({b})" for b in backends] + [f"ΔHR({b})" for b in backends])


def delta_tables(frame: pd.DataFrame, task: str, metric: str, classes: list[str] | None = None,
                 backends: list[str] | None = None, models: list[str] | None = None,
                 summary_rows: tuple = ("Mean", "background"),
                 resampled: dict[str, Resampled] | None = None,
                 labels: dict[str, str] | None = None) -> list[DeltaTable]:
    """`summary_rows`: labels stored under `metric`, or (label, other metric) pairs for a row
    stored under its own metric (classification's ("F2-CIW", "f2_ciw")); such a metric must
    share the table metric's direction and display scale, so one sign and scale fit all rows.
    `resampled` (model -> bench.stats Resampled of its stored states) adds intervals;
    `labels` (model -> what ran, TaskModel.describe) goes into the titles."""
    from bench.catalogue import metric_info

    info = metric_info(metric)
    foreign = dict(r for r in summary_rows if not isinstance(r, str))
    for label, other in foreign.items():
        o = metric_info(other)
        if (o.higher_is_better, o.display_scale) != (info.higher_is_better, info.display_scale):
            raise ValueError(f"summary row {label!r} ({other}) differs from {metric} in "
                             "direction or display scale")
    summary_rows = tuple(r if isinstance(r, str) else r[0] for r in summary_rows)
    own = (frame["metric"] == metric) & ~frame["cls"].isin(list(foreign))
    for label, other in foreign.items():
        own |= (frame["metric"] == other) & (frame["cls"] == label)
    rows = frame[(frame["task"] == task) & own]
    if rows.empty or not (rows["metric"] == metric).any():
        return []
    sign = 1.0 if info.higher_is_better else -1.0
    if backends is None:
        backends = sorted({Variant.parse(v).backend for v in rows["variant"] if is_sr_label(v)})
    present = set(rows["cls"])
    order = [c for c in (classes or sorted(present - set(summary_rows))) if c in present]
    order += [c for c in summary_rows if c in present]
    tables = []
    found = list(dict.fromkeys(rows["model"]))
    model_order = [m for m in (models or []) if m in found] + [m for m in found if m not in (models or [])]
    for model in model_order:
        sub = rows[rows["model"] == model]
        wide = sub.pivot_table(index=["seed", "cls"], columns="variant", values="value", aggfunc="mean")
        same = _same_as_lr(wide, backends)
        per_seed = pd.DataFrame(index=wide.index)
        lr, hr = wide.get("LR"), wide.get("HR")
        per_seed["LR"] = lr
        for b in backends:
            per_seed[f"SR({b})"] = wide.get(sr_label(b))
        per_seed["HR"] = hr
        per_seed["ΔLR"] = sign * (lr - hr) if lr is not None and hr is not None else np.nan
        for b in backends:
            sr = wide.get(sr_label(b))
            per_seed[f"ΔSR({b})"] = sign * (sr - lr) if sr is not None and lr is not None else np.nan
        for b in backends:
            sr = wide.get(sr_label(b))
            per_seed[f"ΔHR({b})"] = sign * (hr - sr) if sr is not None and hr is not None else np.nan
        per_seed = per_seed.astype(float) * info.display_scale
        grouped = per_seed.groupby(level="cls")
        mean = grouped.mean().reindex(order)[_columns(backends)]
        std = grouped.std(ddof=1).fillna(0.0).reindex(order)[_columns(backends)]
        n_seeds = int(sub["seed"].nunique())
        gap = gap_closure(mean / info.display_scale, backends, sign, info.display_scale)
        iv = None
        if resampled and model in resampled:
            iv = table_intervals(resampled[model], order, metric, foreign, backends, sign,
                                 info.display_scale, {b: sr_label(b) for b in backends},
                                 pairs=derived_pairs(backends))
            replays = resampled[model]
            iv.instances, iv.instance_unit = replays.instances, replays.instance_unit
        table = DeltaTable(str(model), metric, mean, std, n_seeds, backends, info.unit,
                           tuple(summary_rows), gap, tuple(same), iv,
                           (labels or {}).get(str(model), ""))
        table.contrasts = contrasts(table, sign)
        tables.append(table)
    return tables


# Presentation (rich, Markdown, LaTeX, CSV) lives in delta_text.py; re-exported here.
from bench.report.delta_text import (display_groups, legend, rich_tables, sr_note,  # noqa: E402,F401
                                     table_json,
                                     title_of, to_latex, to_markdown, write_tables)
