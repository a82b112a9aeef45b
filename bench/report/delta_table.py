"""The Δ table value (bench/report/delta.py computes it, delta_text.py presents it)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.stats.intervals import TableIntervals


@dataclass
class DeltaTable:
    model: str
    metric: str
    mean: pd.DataFrame   # rows x columns, in %
    std: pd.DataFrame    # same shape; 0 with one seed
    n_seeds: int
    backends: list[str]
    unit: str = "%"
    summary_rows: tuple[str, ...] = ("Mean", "background")
    gap: pd.DataFrame | None = None      # rows x backends, fraction; NaN = undefined
    same_as_lr: tuple[str, ...] = ()     # backends whose SR equals LR in every row and seed
    intervals: TableIntervals | None = None  # bootstrap intervals (bench/stats), if stored
    label: str = ""                      # what ran: "YOLOv5n (...)", shown in titles
    contrasts: list = field(default_factory=list)  # bench/report/contrast.py Contrast

    @property
    def shown_backends(self) -> list[str]:
        """Backends that get their own columns (those equal to LR are shown once, as LR)."""
        return [b for b in self.backends if b not in self.same_as_lr]

    def formatted(self, digits: int = 2, compact: bool = False) -> pd.DataFrame:
        """Cell texts: value (± seed std), then [lo, hi] and the not-distinguishable-from-0
        mark on Δs when intervals are known; `compact` (terminal): one decimal, no std."""
        iv = self.intervals

        def cell(m: float, s: float, row: str, col: str) -> str:
            if np.isnan(m):
                return "-"
            d = 1 if compact else digits
            text = f"{m:.{d}f}" if self.n_seeds == 1 or compact else f"{m:.{d}f} ± {s:.{d}f}"
            if iv is None or col not in iv.lo.columns:
                return text
            lo, hi = iv.lo.loc[row, col], iv.hi.loc[row, col]
            if np.isnan(lo):
                return text
            sep = "," if compact else ", "
            text += f" [{lo:.{d}f}{sep}{hi:.{d}f}]"
            return text + (NS if col.startswith("Δ") and lo <= 0 <= hi else "")
        return pd.DataFrame([[cell(m, s, r, c) for m, s, c in zip(mr, sr, self.mean.columns)]
                             for mr, sr, r in zip(self.mean.values, self.std.values,
                                                  self.mean.index)],
                            index=self.mean.index, columns=self.mean.columns)

    def gc_shown(self, row: str, backend: str) -> bool:
        """GC is shown where it is defined (HR beats LR by MIN_GAP) and, with intervals,
        where the HR − LR interval excludes 0 (ΔLR = LR − HR entirely below 0)."""
        if self.gap is None or np.isnan(self.gap.loc[row, backend]):
            return False
        if self.intervals is None:
            return True
        hi = self.intervals.hi.loc[row, "ΔLR"]
        return bool(not np.isnan(hi) and hi < 0)

    def row_label(self, row: str, compact: bool = False) -> str:
        n = self.intervals.instances.get(row) if self.intervals else None
        return str(row) if n is None or not compact else f"{row} ({n})"


MIN_GAP = 0.1  # display units: HR must beat LR by this much for a gap closure to exist
NO_VALUE = "–"
NS = " ~"  # a Δ whose interval contains 0: not distinguishable from 0
