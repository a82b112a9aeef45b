"""Presentation of Δ tables (bench/report/delta.py): terminal (rich), Markdown, LaTeX, CSV.

With bootstrap intervals (bench/stats) every value and Δ carries [lo, hi]; a Δ whose interval
contains 0 ends in "~" (not distinguishable from 0); GC is printed only where the HR − LR
interval excludes 0; class rows show their test instances; the legend states B, the level,
what was resampled and what the interval covers. CSVs hold numbers only, with a sidecar
`<table>.csv.json` stating units, title and legend.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench import atomic
from bench.report.delta_table import MIN_GAP, NO_VALUE, NS, DeltaTable


def _gap_text(value: float, lo: float = np.nan, hi: float = np.nan, compact: bool = False) -> str:
    if np.isnan(value):
        return NO_VALUE
    if np.isnan(lo):
        return f"{100 * value:.0f}%"
    sep = "," if compact else ", "
    return f"{100 * value:.0f}% [{100 * lo:.0f}{sep}{100 * hi:.0f}]"


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


def _cells(table: DeltaTable, source: str, compact: bool = False) -> list[str]:
    if source.startswith("gap:"):
        b, iv = source[4:], table.intervals
        out = []
        for row in table.mean.index:
            if not table.gc_shown(row, b):
                out.append(NO_VALUE)
                continue
            lo = iv.gap_lo.loc[row, b] if iv is not None else np.nan
            hi = iv.gap_hi.loc[row, b] if iv is not None else np.nan
            out.append(_gap_text(table.gap.loc[row, b], lo, hi, compact))
        return out
    return list(table.formatted(compact=compact)[source])


# task-driven protocols whose SR column has its own task model (bench.task_driven.OWN_TASK_MODEL)
OWN_TASK_MODEL_SUFFIXES = ("+td-s2t", "+td-joint")


def legend(table: DeltaTable) -> str:
    """What the columns mean; printed under every human table."""
    unit = "points of %" if table.unit == "%" else (table.unit or "metric units")
    better = "higher" if _higher(table) else "lower"
    if table.shown_backends:
        deltas = ("ΔLR = LR − HR (negative = LR worse than HR), ΔSR = SR − LR (positive = SR "
                  "better than LR), ΔHR = HR − SR (positive = SR still worse than HR)")
    else:
        deltas = "ΔLR = LR − HR (negative = LR worse than HR)"
    flip = "" if _higher(table) else "; signs flipped so these readings hold"
    lines = [f"{deltas}, in {unit}; {better} is better for {table.metric}{flip}."]
    iv = table.intervals
    if table.shown_backends:
        extra = (", and shown only where the HR − LR interval excludes 0" if iv is not None else "")
        lines.append(f"GC = gap closure (SR − LR)/(HR − LR) from the seed means: the share of "
                     f"the resolution loss the SR backend wins back; {NO_VALUE} where HR − LR "
                     f"< {MIN_GAP:g} {'points' if table.unit == '%' else 'units'} (no loss to "
                     f"win back){extra}.")
    own = [b for b in table.shown_backends if b.endswith(OWN_TASK_MODEL_SUFFIXES)]
    if own:  # bench/own_task.py: these columns have a task model of their own
        names = ", ".join(f"SR({b})" for b in own)
        lines.append(f"{names}: scored by {'its' if len(own) == 1 else 'their'} own task model "
                     "(s2t: the HR-trained model fine-tuned on that backend's SR outputs; "
                     "joint: the task model trained jointly with that backend); LR, HR and "
                     "the other columns by the HR-trained model, so ΔHR = HR(HR-trained "
                     "model) − SR(own model) (docs/task-driven.md).")
    if table.n_seeds > 1:
        lines.append(f"Cells: mean ± std over {table.n_seeds} seeds.")
    if iv is not None:
        lines.append(f"[lo, hi]: {100 * iv.settings.level:g}% interval, {iv.method}. "
                     f"\"{NS.strip()}\" = the Δ's interval contains 0 (not distinguishable from 0).")
        if iv.instance_unit:
            lines.append(f"n = {iv.instance_unit}.")
    else:
        lines.append("No intervals: this run stored no evaluation state (rerun it to add them).")
    if table.same_as_lr:
        names = ", ".join(f"SR({b})" for b in table.same_as_lr)
        lines.append(f"{names} equal{'s' if len(table.same_as_lr) == 1 else ''} LR in every row: "
                     f"shown once, as LR. The scores are identical, which says nothing about "
                     f"why: a backend that outputs bicubic enlargement (the LR variant itself) "
                     f"always does, and any backend does when the task model scores both alike "
                     f"(e.g. it predicts background only).")
    return " ".join(lines)


def _higher(table: DeltaTable) -> bool:
    from bench.catalogue import metric_info

    return metric_info(table.metric).higher_is_better


def sr_note(config: dict, backends: list[str] | None) -> str:
    """What the SR columns ran, from the run's config: each learned backend's overrides of its
    registered hyper-parameters and training budget (`sr.hparams`, `sr.train_by_backend`), and
    the budget they share. "" when no SR column was trained (bicubic only)."""
    from bench.task_driven import SUFFIX

    sr = config.get("sr", {})
    hparams, by_backend = sr.get("hparams", {}), sr.get("train_by_backend", {})
    parts = []
    for b in backends or []:
        base = b.split(SUFFIX, 1)[0]  # a task-driven variant has its base's sizes
        over = {**hparams.get(base, {}), **{f"train.{k}": v
                                             for k, v in by_backend.get(base, {}).items()}}
        if over:
            parts.append(f"{b} " + "{" + ", ".join(f"{k}: {v}" for k, v in over.items()) + "}")
    train = sr.get("train", {})
    budget = (f"; learned SR trained {train.get('iterations')} iterations of "
              f"{train.get('batch_size')} LR patches of {train.get('patch_size')} px"
              if train else "")
    return ("SR as run: " + "; ".join(parts) + budget) if parts else ""


def title_of(table: DeltaTable, task: str, dataset: str, profile: str = "",
             n_test: int | None = None, sr: str = "") -> str:
    """Names what ran: the model actually trained, profile, dataset, test size, seeds (and,
    given `sr` = `sr_note(...)`, the SR backends' sizes where they differ from the registry)."""
    unit = f" ({table.unit})" if table.unit else ""
    what = f"{table.model}: {table.label}" if table.label else table.model
    n = n_test if n_test is not None else (table.intervals.n_images if table.intervals else None)
    parts = [f"profile {profile}" if profile else "", f"{n} test images" if n else "",
             f"{table.n_seeds} seed(s)"]
    return f"{what} — {task} on {dataset}: {table.metric}{unit}, " + \
        ", ".join(p for p in parts if p) + (f" — {sr}" if sr else "")


def rich_tables(table: DeltaTable, title: str, width: int):
    """rich Tables of `table` that fit `width` columns (split into parts when needed)."""
    from bench.report.layout import Column, Layout

    index = Column("Class (n)" if table.intervals else "Class",
                   [table.row_label(c, compact=True) for c in table.mean.index], justify="left")
    groups = [[Column(h, _cells(table, src, compact=True)) for h, src in g]
              for g in display_groups(table)]
    first_summary = table.summary_rows[0] if table.summary_rows else None
    rows = list(table.mean.index)
    sections = {rows.index(first_summary) - 1} if first_summary in rows else set()
    return Layout(index, groups, sections).tables(title, width)


def _none(v: float) -> float | None:
    return None if np.isnan(v) else round(float(v), 4)


def table_json(table: DeltaTable) -> dict:
    """The table for `--json`: every column (including those equal to LR) and gap closure."""
    gap = table.gap if table.gap is not None else pd.DataFrame(index=table.mean.index)
    out = {"mean": table.mean.round(4).to_dict(orient="index"),
           "std": table.std.round(4).to_dict(orient="index"),
           "gap_closure": {cls: {b: _none(v) for b, v in row.items()}
                           for cls, row in gap.to_dict(orient="index").items()},
           "same_as_lr": list(table.same_as_lr), "n_seeds": table.n_seeds,
           "unit": table.unit, "model": table.label or table.model}
    iv = table.intervals
    if iv is not None:
        out["interval"] = {
            "lo": iv.lo.round(4).to_dict(orient="index"),
            "hi": iv.hi.round(4).to_dict(orient="index"),
            "gap_closure_lo": {c: {b: _none(v) for b, v in r.items()}
                               for c, r in iv.gap_lo.to_dict(orient="index").items()},
            "gap_closure_hi": {c: {b: _none(v) for b, v in r.items()}
                               for c, r in iv.gap_hi.to_dict(orient="index").items()},
            "method": iv.method, "bootstrap": iv.settings.bootstrap,
            "level": iv.settings.level, "instances": iv.instances,
            "instance_unit": iv.instance_unit}
    if table.contrasts:
        from bench.report.contrast import to_frame
        frame = to_frame(table.contrasts)
        out["contrasts"] = {c: {k: _none(v) for k, v in row.items()}
                            for c, row in frame.to_dict(orient="index").items()}
    return out


def _n_cells(table: DeltaTable) -> list[str] | None:
    iv = table.intervals
    if iv is None or not iv.instances:
        return None
    return [str(iv.instances[c]) if c in iv.instances else "" for c in table.mean.index]


def to_markdown(table: DeltaTable, title: str) -> str:
    """Two Markdown tables (values; Δ and gap closure) and the legend."""
    groups = display_groups(table, two_line=False)
    values = [c for g in groups[:len(table.shown_backends) + 2] for c in g]
    deltas = [c for g in groups[len(table.shown_backends) + 2:] for c in g]
    n = _n_cells(table)

    def md(cols: list[tuple[str, str]]) -> list[str]:
        head = "| Class | " + ("n | " if n else "") + " | ".join(h for h, _ in cols) + " |"
        sep = "|---|" + ("---:|" if n else "") + "|".join("---:" for _ in cols) + "|"
        cells = [_cells(table, src) for _, src in cols]
        body = ["| " + str(cls) + " | " + (n[i] + " | " if n else "")
                + " | ".join(c[i] for c in cells) + " |"
                for i, cls in enumerate(table.mean.index)]
        return [head, sep, *body]

    from bench.report.contrast import to_markdown as contrast_markdown

    return "\n".join([f"**{title}**", "", *md(values), "", *md(deltas), "",
                      legend(table), ""]) + contrast_markdown(table, table.contrasts)


def _tex(text: str) -> str:
    return text.replace("%", r"\%").replace("Δ", r"$\Delta$").replace("−", "-") \
        .replace("±", r"$\pm$").replace(NO_VALUE, "--").replace("~", r"\textasciitilde{}") \
        .replace("_", r"\_")


def to_latex(table: DeltaTable, title: str) -> str:
    cols = [c for g in display_groups(table, two_line=False) for c in g]
    heads = [h.replace("Δ", r"$\Delta$") for h, _ in cols]
    n = _n_cells(table)
    cells = [[_tex(v) for v in _cells(table, src)] for _, src in cols]
    caption = _tex(title + ". " + legend(table))
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}",
             r"\begin{tabular}{l" + ("r" if n else "") + "r" * len(cols) + "}", r"\toprule",
             "Class & " + ("n & " if n else "") + " & ".join(heads) + r" \\", r"\midrule"]
    for i, cls in enumerate(table.mean.index):
        lines.append(str(cls).replace("_", r"\_") + " & " + (n[i] + " & " if n else "")
                     + " & ".join(c[i] for c in cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def write_tables(tables: list[DeltaTable], out_dir: Path, task: str, dataset: str,
                 titles: list[str] | None = None) -> list[Path]:
    """Markdown, CSV (+ .csv.json sidecar: units, title, legend) and LaTeX per table."""
    written = []
    for i, t in enumerate(tables):
        title = titles[i] if titles else title_of(t, task, dataset)
        stem = out_dir / f"{task}-{t.model}-{t.metric}"
        md, tex, csv = stem.with_suffix(".md"), stem.with_suffix(".tex"), stem.with_suffix(".csv")
        atomic.write_text(md, to_markdown(t, title))
        atomic.write_text(tex, to_latex(t, title))
        both = t.mean.join(t.std.add_suffix(" std"))
        iv = t.intervals
        if iv is not None:
            both = both.join(iv.lo.add_suffix(" lo")).join(iv.hi.add_suffix(" hi"))
        if t.gap is not None:  # gap closure as a fraction; empty where undefined
            both = both.join(t.gap.add_prefix("GC(").add_suffix(")"))
            if iv is not None:
                both = both.join(iv.gap_lo.add_prefix("GC(").add_suffix(") lo"))
                both = both.join(iv.gap_hi.add_prefix("GC(").add_suffix(") hi"))
        if iv is not None and iv.instances:
            both = both.copy()  # one block: inserting into the joined frame warns (fragmented)
            both.insert(0, "n", pd.array([iv.instances.get(c) for c in both.index],
                                         dtype="Int64"))
        with atomic.atomic_path(csv) as tmp:
            both.to_csv(tmp, index_label="class", float_format="%.4f")
        side = {"title": title, "unit": t.unit or "metric units",
                "columns": f"values and Δs in {t.unit or 'metric units'} ('%' = points of %); "
                           "GC(...) columns are fractions (1 = the whole loss won back); "
                           "'std' = std over seeds; 'lo'/'hi' = interval bounds",
                "n": (iv.instance_unit if iv is not None else None),
                "legend": legend(t)}
        atomic.write_text(csv.with_suffix(".csv.json"), json.dumps(side, indent=2,
                                                                     ensure_ascii=False))
        written += [md, csv, tex, csv.with_suffix(".csv.json")]
        from bench.report.contrast import write_csv
        written += write_csv(t.contrasts, stem.with_name(stem.name + "-contrasts.csv"))
    return written
