"""Δ tables in the shape of the paper's Tables 3-4, derived from store rows alone.

Rows: the classes (dataset order) + the task's summary rows (TaskSpec.summary_rows, e.g. Mean
and background, which is reported separately and not part of the mean). Columns: LR, SR(b) per backend, HR, ΔLR, ΔSR(b), ΔHR(b), where for a metric that is
higher-is-better (paper eqs. 24-26)
    ΔLR = LR - HR,   ΔSR(b) = SR(b) - LR,   ΔHR(b) = HR - SR(b).
For a lower-is-better metric the signs flip, so a positive Δ always means "better"; the
direction and the display unit come from the metric catalogue (bench/metrics). Deltas are
computed per seed and then summarised, so with several seeds every cell reads mean ± std over
seeds. Fractions are shown in % like the paper (mIoU%).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench import atomic


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

    def formatted(self, digits: int = 2) -> pd.DataFrame:
        def cell(m: float, s: float) -> str:
            if np.isnan(m):
                return "-"
            return f"{m:.{digits}f}" if self.n_seeds == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"
        return pd.DataFrame([[cell(m, s) for m, s in zip(mr, sr)] for mr, sr in
                             zip(self.mean.values, self.std.values)],
                            index=self.mean.index, columns=self.mean.columns)


def _columns(backends: list[str]) -> list[str]:
    return (["LR"] + [f"SR({b})" for b in backends] + ["HR", "ΔLR"]
            + [f"ΔSR({b})" for b in backends] + [f"ΔHR({b})" for b in backends])


def delta_tables(frame: pd.DataFrame, task: str, metric: str, classes: list[str] | None = None,
                 backends: list[str] | None = None, models: list[str] | None = None,
                 summary_rows: tuple[str, ...] = ("Mean", "background")) -> list[DeltaTable]:
    from bench.metrics import metric_info

    rows = frame[(frame["task"] == task) & (frame["metric"] == metric)]
    if rows.empty:
        return []
    info = metric_info(metric)
    sign = 1.0 if info.higher_is_better else -1.0
    if backends is None:
        backends = sorted({v[3:] for v in rows["variant"] if v.startswith("SR:")})
    present = set(rows["cls"])
    order = [c for c in (classes or sorted(present - set(summary_rows))) if c in present]
    order += [c for c in summary_rows if c in present]
    tables = []
    found = list(dict.fromkeys(rows["model"]))
    model_order = [m for m in (models or []) if m in found] + [m for m in found if m not in (models or [])]
    for model in model_order:
        sub = rows[rows["model"] == model]
        wide = sub.pivot_table(index=["seed", "cls"], columns="variant", values="value", aggfunc="mean")
        per_seed = pd.DataFrame(index=wide.index)
        lr, hr = wide.get("LR"), wide.get("HR")
        per_seed["LR"] = lr
        for b in backends:
            per_seed[f"SR({b})"] = wide.get(f"SR:{b}")
        per_seed["HR"] = hr
        per_seed["ΔLR"] = sign * (lr - hr) if lr is not None and hr is not None else np.nan
        for b in backends:
            sr = wide.get(f"SR:{b}")
            per_seed[f"ΔSR({b})"] = sign * (sr - lr) if sr is not None and lr is not None else np.nan
        for b in backends:
            sr = wide.get(f"SR:{b}")
            per_seed[f"ΔHR({b})"] = sign * (hr - sr) if sr is not None and hr is not None else np.nan
        per_seed = per_seed.astype(float) * info.display_scale
        grouped = per_seed.groupby(level="cls")
        mean = grouped.mean().reindex(order)[_columns(backends)]
        std = grouped.std(ddof=1).fillna(0.0).reindex(order)[_columns(backends)]
        n_seeds = int(sub["seed"].nunique())
        tables.append(DeltaTable(str(model), metric, mean, std, n_seeds, backends, info.unit,
                                 tuple(summary_rows)))
    return tables


def to_markdown(table: DeltaTable, title: str) -> str:
    f = table.formatted()
    head = "| Class | " + " | ".join(f.columns) + " |"
    sep = "|---|" + "|".join("---:" for _ in f.columns) + "|"
    body = ["| " + cls + " | " + " | ".join(row) + " |" for cls, row in zip(f.index, f.values)]
    return "\n".join([f"**{title}**", "", head, sep, *body, ""])


def to_latex(table: DeltaTable, title: str) -> str:
    f = table.formatted()
    cols = [c.replace("Δ", r"$\Delta$").replace("±", r"$\pm$") for c in f.columns]
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{title}}}",
             r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
             "Class & " + " & ".join(cols) + r" \\", r"\midrule"]
    for cls, row in zip(f.index, f.values):
        cells = [v.replace("±", r"$\pm$") for v in row]
        lines.append(cls.replace("_", r"\_") + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def write_tables(tables: list[DeltaTable], out_dir: Path, task: str, dataset: str) -> list[Path]:
    """Markdown, CSV (mean and std columns) and LaTeX per model, under `out_dir`."""
    written = []
    for t in tables:
        unit = f" ({t.unit})" if t.unit else ""
        title = f"{t.model} {task} on {dataset}: {t.metric}{unit}, {t.n_seeds} seed(s)"
        stem = out_dir / f"{task}-{t.model}-{t.metric}"
        md, tex = stem.with_suffix(".md"), stem.with_suffix(".tex")
        atomic.write_text(md, to_markdown(t, title))
        atomic.write_text(tex, to_latex(t, title))
        both = t.mean.join(t.std.add_suffix(" std"))
        with atomic.atomic_path(stem.with_suffix(".csv")) as tmp:
            both.to_csv(tmp, index_label="class", float_format="%.4f")
        written += [md, stem.with_suffix(".csv"), tex]
    return written
