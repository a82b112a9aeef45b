"""Our run's pattern beside the paper's (Tables 3-9): for each class, SR column and Δ, does
the sign agree?

Sources of our values (percent, like the paper):
- a run folder (`<out>/<run_id>/` with manifest.json and rows/): the Δ tables are recomputed
  from the stored rows (bench/report/delta.py), seeds averaged;
- a folder of exported tables (`<task>-<model>-<metric>.csv`, e.g. the committed
  results/segmentation-quick/): their LR / SR(b) / HR columns.
Metric per task: segmentation iou (the paper's mIoU), detection ap50 (the paper prints "mAP"
without its IoU threshold; ours at 0.5), classification f1.

Mapping (results/paper/methods.csv): paper table -> our task model; paper column D (DSRNet) and
A (ATD) -> the first of our backends listed for it that the run holds, unless `mapping` names
one (`{"D": "edsr"}`). Every paper number is labelled as the paper's; the sign comparison uses
the Δ recomputed from the paper's own row ("paper, its rows"), since some printed Δs do not
follow from their rows (results/paper/errata.csv). Eqs. 24-26: ΔLR = LR − HR, ΔSR = SR − LR,
ΔHR = HR − SR; a positive ΔSR means SR helps.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.report import paper

TASK_METRIC = {"segmentation": "iou", "detection": "ap50", "classification": "f1"}
SIGN_DEADBAND = 0.005   # |Δ| below half a printed unit (0.01 points) counts as 0
COLUMNS = ["table", "paper_model", "task", "model", "class", "delta", "ours_column",
           "paper_printed", "paper_from_rows", "ours", "sign_paper", "sign_ours", "agree"]


def _sign(x: float) -> str:
    if x is None or not np.isfinite(x):
        return ""
    return "0" if abs(x) < SIGN_DEADBAND else ("+" if x > 0 else "-")


def ours_from_run(run_dir: Path) -> dict[tuple[str, str], pd.DataFrame]:
    """(task, model) -> class x {LR, SR(b)..., HR} in % from a run folder's rows."""
    from bench.report.delta import delta_tables
    from bench.resolved_task import task_spec
    from bench.store import ResultStore

    store = ResultStore(run_dir)
    manifest = store.manifest()
    task = manifest.get("task")
    if task not in TASK_METRIC:
        raise BenchError(f"{run_dir}: run task {task!r} has no paper table (expected one of "
                         f"{', '.join(TASK_METRIC)})")
    frame = store.load()
    summary_rows = tuple(task_spec(task).summary_rows)
    labels = {r if isinstance(r, str) else r[0] for r in summary_rows}
    # the 15-class Mean and the official MF1 (tasks/classification/official.py), where stored
    summary_rows += tuple(r for r in ("Mean (15)", "MF1") if r not in labels)
    tables = delta_tables(frame, task, TASK_METRIC[task], classes=manifest.get("classes"),
                          summary_rows=summary_rows)
    if not tables:
        raise BenchError(f"{run_dir}: no {task} {TASK_METRIC[task]} rows stored yet")
    out = {}
    for t in tables:
        cols = [c for c in t.mean.columns if c in ("LR", "HR") or c.startswith("SR(")]
        wide = t.mean[cols].copy()
        if t.intervals is not None:  # our Δs' intervals: a Δ containing 0 has no sign
            for c in (c for c in t.intervals.lo.columns if c.startswith("Δ")):
                wide[f"{c} lo"], wide[f"{c} hi"] = t.intervals.lo[c], t.intervals.hi[c]
        out[(task, t.model)] = wide
    return out


def ours_from_tables(folder: Path) -> dict[tuple[str, str], pd.DataFrame]:
    """(task, model) -> class x {LR, SR(b)..., HR} from exported `<task>-<model>-<metric>.csv`."""
    out = {}
    for task, metric in TASK_METRIC.items():
        for path in sorted(folder.glob(f"{task}-*-{metric}.csv")):
            model = path.stem[len(task) + 1:-(len(metric) + 1)]
            frame = pd.read_csv(path).set_index("class")
            cols = [c for c in frame.columns if c in ("LR", "HR") or
                    (c.startswith("SR(") and not c.endswith((" std", " lo", " hi"))) or
                    (c.startswith("Δ") and c.endswith((" lo", " hi")))]
            out[(task, model)] = frame[cols]
    return out


def load_ours(source: Path) -> dict[tuple[str, str], pd.DataFrame]:
    source = Path(source)
    if (source / "manifest.json").is_file():
        return ours_from_run(source)
    if source.is_dir():
        found = ours_from_tables(source)
        if found:
            return found
    raise BenchError(f"{source}: neither a run folder (manifest.json + rows/) nor a folder of "
                     f"exported tables (<task>-<model>-{{iou,ap50,f1}}.csv)")


def _backend_for(column: str, wide: pd.DataFrame, mapping: dict[str, str],
                 candidates: dict[str, list[str]]) -> str | None:
    have = [c[3:-1] for c in wide.columns if c.startswith("SR(")]
    if column in mapping:
        return mapping[column] if mapping[column] in have else None
    return next((b for b in candidates.get(column, []) if b in have), None)


def compare(ours: dict[tuple[str, str], pd.DataFrame], mapping: dict[str, str] | None = None,
            folder: Path = paper.PAPER_DIR) -> pd.DataFrame:
    """One row per (paper table with a matching model of ours, class in both, Δ)."""
    mapping = dict(mapping or {})
    unknown = set(mapping) - {"D", "A"}
    if unknown:
        raise BenchError(f"--map {', '.join(sorted(unknown))}: the paper's SR columns are D "
                         "(DSRNet) and A (ATD)")
    candidates = paper.sr_candidates(folder)
    idx = paper.index(folder).set_index("table")
    rows = []
    for n in paper.DELTA_TABLES:
        model, task = paper.our_model(n, folder), idx.at[n, "task"]
        wide = ours.get((task, model))
        if wide is None:
            continue
        t = paper.load_table(n, folder=folder).set_index("class")
        raw = paper.load_table(n, raw=True, folder=folder).set_index("class")
        chosen = {c: _backend_for(c, wide, mapping, candidates) for c in ("D", "A")}
        # the Mean row's Δ from the class rows' means: some printed Mean rows are not the mean
        # of their classes (results/paper/errata.csv)
        class_means = t.drop(index="Mean").mean() if "Mean" in t.index else None
        for cls in t.index:
            # the paper's classification Mean is over its 15 classes: ours too where stored
            mine_cls = "Mean (15)" if cls == "Mean" and "Mean (15)" in wide.index else cls
            if mine_cls not in wide.index:
                continue
            ours_row = wide.loc[mine_cls]
            for delta, (a, b) in paper.DELTA_DEFINITION.items():
                col = delta[1:].split("(")[-1].rstrip(")") if "(" in delta else None
                backend = chosen[col] if col else None

                def ours_value(name):
                    if name in ("LR", "HR"):
                        return float(ours_row[name])
                    return float(ours_row[f"SR({backend})"]) if backend else np.nan

                mine = ours_value(a) - ours_value(b) if (col is None or backend) else np.nan
                base = class_means if cls == "Mean" and class_means is not None else t.loc[cls]
                from_rows = float(base[a] - base[b])
                sp, so = _sign(from_rows), _sign(mine)
                ours_name = delta.replace("d", "Δ", 1).replace(f"({col})", f"({backend})")
                lo, hi = (ours_row.get(f"{ours_name} {e}", np.nan) for e in ("lo", "hi"))
                if so and np.isfinite(lo) and np.isfinite(hi) and lo <= 0 <= hi:
                    so = "~"  # our interval contains 0: no sign to compare
                agree = "" if not so else ("n.s." if so == "~" else
                                           ("yes" if sp == so else "no"))
                rows.append(dict(zip(COLUMNS, (
                    n, idx.at[n, "model"], task, model, cls, delta.replace("d", "Δ", 1),
                    f"SR({backend})" if backend else ("" if col is None else "–"),
                    raw.at[cls, delta], round(from_rows, 2), mine, sp, so, agree))))
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(frame: pd.DataFrame) -> str:
    compared = frame[frame["agree"] != ""]
    if compared.empty:
        return "no Δ could be compared (no paper table matches the run's task models)"
    judged = compared[compared["agree"] != "n.s."]
    agree = int((judged["agree"] == "yes").sum())
    share = f" ({100.0 * agree / len(judged):.0f}%)" if len(judged) else ""
    return (f"signs agree for {agree} of {len(judged)} Δs whose interval excludes 0{share}; "
            f"{len(compared) - len(judged)} of ours not distinguishable from 0 (n.s.); "
            f"{len(frame) - len(compared)} without our counterpart")


LEGEND = ("paper = Pan et al. 2025, Tables 3-9 (numbers are the paper's, never ours): "
          "'printed' as in the paper, 'its rows' = the Δ recomputed from the paper's own row "
          "(eqs. 24-26), for the Mean row from the means of the class rows (it differs from the "
          "printed value where the paper misprints, see results/paper/errata.csv). "
          "Signs compare ours with 'its rows'; |Δ| < 0.005 points counts as 0; where our Δ's "
          "interval contains 0 its sign is not compared ('n.s.'). "
          "D = DSRNet, A = ATD in the paper; our stand-ins are named in each table's column. "
          "The paper's classification Mean is over its 15 listed classes; ours is our "
          "'Mean (15)' row where the run stores one (task.mean_classes=paper15), else our Mean.")


def to_markdown(frame: pd.DataFrame, folder: Path = paper.PAPER_DIR) -> str:
    parts = []
    for n, sub in frame.groupby("table", sort=True):
        first = sub.iloc[0]
        srs = sorted({c for c in sub["ours_column"] if c.startswith("SR(")})
        parts.append(f"**{paper.caption(int(n), folder)} (paper) vs ours: {first['task']} / "
                     f"{first['model']}{' / ' + ', '.join(srs) if srs else ''}**\n")
        parts.append("| class | Δ | paper, printed | paper, its rows | ours | ours column "
                     "| signs agree |")
        parts.append("|---|---|---:|---:|---:|---|---|")
        for r in sub.itertuples(index=False):
            mine = "–" if not np.isfinite(r.ours) else f"{r.ours:.2f}"
            parts.append(f"| {r._4} | {r.delta} | {r.paper_printed} | {r.paper_from_rows:.2f} "
                         f"| {mine} | {r.ours_column or '–'} | {r.agree or '–'} |")
        parts.append("")
    parts.append(summary(frame))
    parts.append("")
    parts.append(LEGEND)
    return "\n".join(parts) + "\n"


def write_report(frame: pd.DataFrame, dest: Path) -> list[Path]:
    from bench import atomic

    dest = Path(dest)
    csv_path, md_path = dest / "paper-compare.csv", dest / "paper-compare.md"
    atomic.write_text(csv_path, frame.to_csv(index=False))
    atomic.write_text(md_path, to_markdown(frame))
    return [csv_path, md_path]
