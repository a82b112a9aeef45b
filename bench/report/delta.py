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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench import atomic
from bench.variants import Variant, is_sr_label, sr_label


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

    @property
    def shown_backends(self) -> list[str]:
        """Backends that get their own columns (those equal to LR are shown once, as LR)."""
        return [b for b in self.backends if b not in self.same_as_lr]

    def formatted(self, digits: int = 2) -> pd.DataFrame:
        def cell(m: float, s: float) -> str:
            if np.isnan(m):
                return "-"
            return f"{m:.{digits}f}" if self.n_seeds == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"
        return pd.DataFrame([[cell(m, s) for m, s in zip(mr, sr)] for mr, sr in
                             zip(self.mean.values, self.std.values)],
                            index=self.mean.index, columns=self.mean.columns)


MIN_GAP = 0.1  # display units: HR must beat LR by this much for a gap closure to exist
NO_VALUE = "–"


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
                 summary_rows: tuple = ("Mean", "background")) -> list[DeltaTable]:
    """`summary_rows`: labels stored under `metric`, or (label, other metric) pairs for a row
    stored under its own metric (classification's ("F2-CIW", "f2_ciw")); such a metric must
    share the table metric's direction and display scale, so one sign and scale fit all rows."""
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
        tables.append(DeltaTable(str(model), metric, mean, std, n_seeds, backends, info.unit,
                                 tuple(summary_rows), gap, tuple(same)))
    return tables


# --------------------------------------------------------------------------- presentation
def _gap_text(value: float) -> str:
    return NO_VALUE if np.isnan(value) else f"{100 * value:.0f}%"


def display_groups(table: DeltaTable, two_line: bool = True) -> list[list[tuple[str, str]]]:
    """The shown columns as groups of (header, source) that belong together; `source` is a
    column of `mean` or "gap:<backend>". Headers are "ΔSR\nedsr" (two lines) or "ΔSR(edsr)"."""
    def head(kind: str, b: str) -> str:
        return f"{kind}\n{b}" if two_line else f"{kind}({b})"

    shown = table.shown_backends
    groups = [[("LR", "LR")]] + [[(head("SR", b), f"SR({b})")] for b in shown] + [[("HR", "HR")]]
    groups.append([("ΔLR", "ΔLR")])
    for b in shown:
        groups.append([(head("ΔSR", b), f"ΔSR({b})"), (head("ΔHR", b), f"ΔHR({b})"),
                       (head("GC", b), f"gap:{b}")])
    return groups


def _cells(table: DeltaTable, source: str) -> list[str]:
    if source.startswith("gap:"):
        gap = table.gap if table.gap is not None else pd.DataFrame(index=table.mean.index)
        col = gap.get(source[4:], pd.Series(np.nan, index=table.mean.index))
        return [_gap_text(v) for v in col.reindex(table.mean.index)]
    return list(table.formatted()[source])


def legend(table: DeltaTable) -> str:
    """What the columns mean; printed under every human table."""
    unit = "points of %" if table.unit == "%" else (table.unit or "metric units")
    deltas = "ΔLR = LR − HR, ΔSR = SR − LR, ΔHR = HR − SR" if table.shown_backends else \
        "ΔLR = LR − HR"
    lines = [f"{deltas}, in {unit}; positive = better "
             f"({'higher' if _higher(table) else 'lower'} is better for {table.metric})."]
    if table.shown_backends:
        lines.append(f"GC = gap closure (SR − LR)/(HR − LR) from the seed means: the share of "
                     f"the resolution loss the SR backend wins back; {NO_VALUE} where HR − LR "
                     f"< {MIN_GAP:g} {'points' if table.unit == '%' else 'units'} (no loss to "
                     f"win back).")
    if table.n_seeds > 1:
        lines.append(f"Cells: mean ± std over {table.n_seeds} seeds.")
    if table.same_as_lr:
        names = ", ".join(f"SR({b})" for b in table.same_as_lr)
        lines.append(f"{names} equal{'s' if len(table.same_as_lr) == 1 else ''} LR in every row: "
                     f"shown once, as LR (the LR variant is bicubic enlargement, so a bicubic "
                     f"backend always does).")
    return " ".join(lines)


def _higher(table: DeltaTable) -> bool:
    from bench.catalogue import metric_info

    return metric_info(table.metric).higher_is_better


def title_of(table: DeltaTable, task: str, dataset: str) -> str:
    unit = f" ({table.unit})" if table.unit else ""
    return f"{table.model} {task} on {dataset}: {table.metric}{unit}, {table.n_seeds} seed(s)"


def rich_tables(table: DeltaTable, title: str, width: int):
    """rich Tables of `table` that fit `width` columns (split into parts when needed)."""
    from bench.report.layout import Column, Layout

    index = Column("Class", [str(c) for c in table.mean.index], justify="left")
    groups = [[Column(h, _cells(table, src)) for h, src in g] for g in display_groups(table)]
    first_summary = table.summary_rows[0] if table.summary_rows else None
    rows = list(table.mean.index)
    sections = {rows.index(first_summary) - 1} if first_summary in rows else set()
    return Layout(index, groups, sections).tables(title, width)


def table_json(table: DeltaTable) -> dict:
    """The table for `--json`: every column (including those equal to LR) and gap closure."""
    gap = table.gap if table.gap is not None else pd.DataFrame(index=table.mean.index)
    return {"mean": table.mean.round(4).to_dict(orient="index"),
            "std": table.std.round(4).to_dict(orient="index"),
            "gap_closure": {cls: {b: (None if np.isnan(v) else round(float(v), 4))
                                  for b, v in row.items()}
                            for cls, row in gap.to_dict(orient="index").items()},
            "same_as_lr": list(table.same_as_lr), "n_seeds": table.n_seeds,
            "unit": table.unit}


def to_markdown(table: DeltaTable, title: str) -> str:
    """Two Markdown tables (values; Δ and gap closure) and the legend."""
    groups = display_groups(table, two_line=False)
    values = [c for g in groups[:len(table.shown_backends) + 2] for c in g]
    deltas = [c for g in groups[len(table.shown_backends) + 2:] for c in g]

    def md(cols: list[tuple[str, str]]) -> list[str]:
        head = "| Class | " + " | ".join(h for h, _ in cols) + " |"
        sep = "|---|" + "|".join("---:" for _ in cols) + "|"
        cells = [_cells(table, src) for _, src in cols]
        body = ["| " + str(cls) + " | " + " | ".join(c[i] for c in cells) + " |"
                for i, cls in enumerate(table.mean.index)]
        return [head, sep, *body]

    return "\n".join([f"**{title}**", "", *md(values), "", *md(deltas), "",
                      legend(table), ""])


def to_latex(table: DeltaTable, title: str) -> str:
    cols = [c for g in display_groups(table, two_line=False) for c in g]
    heads = [h.replace("Δ", r"$\Delta$") for h, _ in cols]
    cells = [[v.replace("±", r"$\pm$").replace("%", r"\%").replace(NO_VALUE, "--")
              for v in _cells(table, src)] for _, src in cols]
    caption = (title + ". " + legend(table)).replace("%", r"\%").replace("Δ", r"$\Delta$") \
        .replace("−", "-").replace("±", r"$\pm$").replace(NO_VALUE, "--")
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}",
             r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
             "Class & " + " & ".join(heads) + r" \\", r"\midrule"]
    for i, cls in enumerate(table.mean.index):
        lines.append(str(cls).replace("_", r"\_") + " & " + " & ".join(c[i] for c in cells)
                     + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def write_tables(tables: list[DeltaTable], out_dir: Path, task: str, dataset: str) -> list[Path]:
    """Markdown, CSV (mean and std columns) and LaTeX per model, under `out_dir`."""
    written = []
    for t in tables:
        title = title_of(t, task, dataset)
        stem = out_dir / f"{task}-{t.model}-{t.metric}"
        md, tex = stem.with_suffix(".md"), stem.with_suffix(".tex")
        atomic.write_text(md, to_markdown(t, title))
        atomic.write_text(tex, to_latex(t, title))
        both = t.mean.join(t.std.add_suffix(" std"))
        if t.gap is not None:  # gap closure as a fraction; empty where undefined
            both = both.join(t.gap.add_prefix("GC(").add_suffix(")"))
        with atomic.atomic_path(stem.with_suffix(".csv")) as tmp:
            both.to_csv(tmp, index_label="class", float_format="%.4f")
        written += [md, stem.with_suffix(".csv"), tex]
    return written
