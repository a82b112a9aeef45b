"""Paired contrasts between two SR columns of one Δ table: is a derived variant better than
the backend it derives from?

A derived variant is named BASE+SUFFIX (e.g. `edsr+td-frozen`, the task-driven EDSR of
bench/task_driven.py); when BASE is a column of the same table, the pair (variant, BASE) gets
    D(a, b)  = SR(a) − SR(b)                    (sign-adjusted: positive = a better)
    DGC(a,b) = GC(a) − GC(b) = (SR(a) − SR(b)) / (HR − LR)
per row, from the seed means, with the table's intervals: the same image resamples (and seed
draws) as every other cell, so the difference is paired, not two intervals compared by eye.
DGC is shown only where both GCs are (HR − LR interval excludes 0). Values are in the table's
display unit; DGC in percentage points of gap closure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench import atomic
from bench.report.delta_table import NO_VALUE, NS, DeltaTable


@dataclass
class Contrast:
    a: str                    # the derived variant
    b: str                    # its base
    diff: pd.Series           # rows, display units, positive = a better
    diff_lo: pd.Series
    diff_hi: pd.Series
    gc: pd.Series             # rows, fraction; NaN where not shown
    gc_lo: pd.Series
    gc_hi: pd.Series


def derived_pairs(backends: list[str]) -> list[tuple[str, str]]:
    """(variant, base) for every column BASE+... whose BASE is also a column."""
    from bench.task_driven import parse_name

    pairs = []
    for name in backends:
        parsed = parse_name(name) if "+" in name else None
        if parsed is not None and parsed[0] in backends:
            pairs.append((name, parsed[0]))
    return pairs


def contrasts(table: DeltaTable, sign: float) -> list[Contrast]:
    """The table's contrasts; intervals from `table.intervals.contrast` (bench/stats)."""
    iv = table.intervals
    out = []
    for a, b in derived_pairs(table.backends):
        if f"SR({a})" not in table.mean or f"SR({b})" not in table.mean:
            continue
        diff = sign * (table.mean[f"SR({a})"] - table.mean[f"SR({b})"])
        gc = pd.Series(np.nan, index=table.mean.index)
        if table.gap is not None:
            for row in table.mean.index:
                if table.gc_shown(row, a) and table.gc_shown(row, b):
                    gc[row] = table.gap.loc[row, a] - table.gap.loc[row, b]
        nan = pd.Series(np.nan, index=table.mean.index)
        lo, hi, glo, ghi = (iv.contrast.get((a, b), (nan,) * 4) if iv is not None
                            else (nan,) * 4)
        out.append(Contrast(a, b, diff, lo, hi, gc, glo.where(gc.notna()), ghi.where(gc.notna())))
    return out


def _text(v: float, lo: float, hi: float, scale: float = 1.0, digits: int = 2,
          mark: bool = True) -> str:
    if np.isnan(v):
        return NO_VALUE
    text = f"{scale * v:+.{digits}f}"
    if np.isnan(lo):
        return text
    text += f" [{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"
    return text + (NS if mark and lo <= 0 <= hi else "")


def to_markdown(table: DeltaTable, cs: list[Contrast]) -> str:
    """One Markdown table (rows x contrasts) and its legend; "" without contrasts."""
    if not cs:
        return ""
    heads = []
    for c in cs:
        heads += [f"SR({c.a}) − SR({c.b})", f"GC({c.a}) − GC({c.b})"]
    lines = ["| Class | " + " | ".join(heads) + " |", "|---|" + "|".join("---:" for _ in heads) + "|"]
    for row in table.mean.index:
        cells = []
        for c in cs:
            cells.append(_text(c.diff[row], c.diff_lo[row], c.diff_hi[row]))
            cells.append(_text(c.gc[row], c.gc_lo[row], c.gc_hi[row], scale=100, digits=0))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    unit = "points of %" if table.unit == "%" else (table.unit or "metric units")
    legend = (f"Paired contrasts: SR(a) − SR(b) in {unit}, positive = a better; GC(a) − GC(b) "
              f"in percentage points of gap closure, shown where both GCs are. Same resamples "
              f"as the table above, so the interval is that of the difference itself; "
              f"\"{NS.strip()}\" = contains 0 (no difference shown).")
    return "\n".join(["", *lines, "", legend, ""])


def to_frame(cs: list[Contrast]) -> pd.DataFrame:
    """Numbers for the CSV: per contrast, diff (display units) and GC diff (fraction), with
    their lo/hi."""
    cols = {}
    for c in cs:
        k = f"{c.a} vs {c.b}"
        cols.update({f"{k}: SR diff": c.diff, f"{k}: SR diff lo": c.diff_lo,
                     f"{k}: SR diff hi": c.diff_hi, f"{k}: GC diff": c.gc,
                     f"{k}: GC diff lo": c.gc_lo, f"{k}: GC diff hi": c.gc_hi})
    return pd.DataFrame(cols)


def write_csv(cs: list[Contrast], path) -> list:  # type: ignore[no-untyped-def]
    if not cs:
        return []
    with atomic.atomic_path(path) as tmp:
        to_frame(cs).to_csv(tmp, index_label="class", float_format="%.4f")
    return [path]
