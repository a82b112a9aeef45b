"""The study report: one Markdown file with its figure, plus CSVs, from the study's parts.

Everything here is read from the store: the eval-sr run (PSNR/SSIM), the cost run (params,
MACs) and one run per task (Δ tables). Nothing is recomputed from images or models, so the
report of a finished study is identical however often it is written.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench import atomic
from bench.report.rank import RankAgreement, rank_agreement
from bench.report.rank import to_markdown as rank_markdown


def _label(backend: str) -> str:
    from bench.variants import sr_label

    return sr_label(backend)


def leaderboard_board(store_root: Path, runs: list[Path], dataset: str):
    """The leaderboard of exactly these runs (the study's eval-sr and cost runs)."""
    from bench.report.leaderboard import build
    from bench.report.selection import annotate
    from bench.store import load_runs

    names = {Path(r).name for r in runs if r}
    frame = load_runs(store_root)
    frame = frame[frame["run"].isin(names)]
    return build(annotate(frame, store_root), dataset, "psnr_y")


def task_scores(run_dir: Path, task: str, backends: list[str]) -> dict[tuple[str, str], pd.Series]:
    """(model, metric) -> each backend's task Mean on its SR outputs, averaged over seeds."""
    from bench.resolved_task import task_spec
    from bench.store import ResultStore

    frame = ResultStore(run_dir).load()
    spec = task_spec(task)
    out = {}
    for metric in spec.table_metrics:  # every table metric (detection: mAP@0.5 and @0.5:0.95)
        rows = frame[(frame["task"] == task) & (frame["metric"] == metric)
                     & (frame["cls"] == "Mean")]
        for model, group in rows.groupby("model", sort=False):
            per_variant = group.groupby("variant")["value"].mean()
            out[(model, metric)] = pd.Series(
                {b: per_variant.get(_label(b), float("nan")) for b in backends})
    return out


def state_replicates(run_dir: Path, task: str, model: str, metric: str,
                     backends: list[str]):
    """(B, len(backends)) bootstrap replicates of each backend's task Mean, from the run's
    stored evaluation states: the same resampled test images (and, with several seeds, the
    same seed draws) for every backend, as in the Δ tables. None when the run stored none."""
    import numpy as np

    from bench.commands.run import resampled_states, stats_settings
    from bench.store import ResultStore

    store = ResultStore(run_dir)
    manifest = store.manifest()
    res = resampled_states(store, task, manifest.get("classes") or [],
                           stats_settings(manifest)).get(model)
    if res is None:
        return None
    columns = []
    for b in backends:
        reps = res.variant(_label(b), [("Mean", metric)])
        if reps is None:
            return None
        columns.append(reps[:, 0])
    return np.column_stack(columns) if columns else None


def resolution_rows(task_runs: dict[str, Path]) -> pd.DataFrame:
    """Does resolution matter on this data? Per task, model and table metric: the HR and LR
    Means (over seeds, display units) and the loss HR − LR under the run's degradation
    (sign-adjusted: positive = HR better) with the Δ tables' paired interval (the same
    replicates as their ΔLR, negated)."""
    from bench.catalogue import metric_info
    from bench.commands.run import resampled_states, stats_settings
    from bench.report.selection import degradation_text
    from bench.resolved_task import task_spec
    from bench.stats.bootstrap import percentile_interval
    from bench.store import ResultStore

    out = []
    for task, run_dir in task_runs.items():
        store = ResultStore(run_dir)
        manifest, frame = store.manifest(), store.load()
        settings = stats_settings(manifest)
        degradation = degradation_text(manifest.get("config", {}).get("degradation") or {})
        resampled = resampled_states(store, task, manifest.get("classes") or [], settings)
        for metric in task_spec(task).table_metrics:
            info = metric_info(metric)
            sign, scale = (1.0 if info.higher_is_better else -1.0), info.display_scale
            rows = frame[(frame["task"] == task) & (frame["metric"] == metric)
                         & (frame["cls"] == "Mean")]
            for model, group in rows.groupby("model", sort=False):
                means = group.groupby("variant")["value"].mean()
                if "HR" not in means or "LR" not in means:
                    continue
                lo = hi = float("nan")
                res = resampled.get(model)
                hr_reps = res.variant("HR", [("Mean", metric)]) if res else None
                lr_reps = res.variant("LR", [("Mean", metric)]) if res else None
                if hr_reps is not None and lr_reps is not None:
                    lo, hi = (float(v[0]) for v in percentile_interval(
                        sign * (hr_reps - lr_reps) * scale, settings.level))
                out.append({"task": task, "model": model, "metric": metric,
                            "degradation": degradation,
                            "HR": means["HR"] * scale, "LR": means["LR"] * scale,
                            "loss": sign * (means["HR"] - means["LR"]) * scale,
                            "lo": lo, "hi": hi, "seeds": int(group["seed"].nunique())})
    return pd.DataFrame(out, columns=["task", "model", "metric", "degradation", "HR", "LR",
                                      "loss", "lo", "hi", "seeds"])


def resolution_markdown(frame: pd.DataFrame) -> str:
    lines = ["| task | model | metric (Mean) | LR made by | HR | LR | loss HR − LR | 95% interval "
             "| seeds |", "|---|---|---|---|---:|---:|---:|---|---:|"]
    for r in frame.itertuples():
        if pd.isna(r.lo):
            iv = "—"
        else:
            iv = f"[{r.lo:+.2f}, {r.hi:+.2f}]" + ("" if r.lo > 0 or r.hi < 0 else " ~")
        lines.append(f"| {r.task} | {r.model} | {r.metric} | {r.degradation} | "
                     f"{r.HR:.2f} | {r.LR:.2f} | "
                     f"{r.loss:+.2f} | {iv} | {r.seeds} |")
    return "\n".join(lines)


def rank_rows(psnr: pd.Series, task_runs: dict[str, Path], backends: list[str],
              replicates=None, level: float = 0.95) -> list[RankAgreement]:
    """One Kendall τ per (task, model): PSNR-Y vs the task's Mean over the SR backends that
    have both. `replicates(run_dir, task, model, metric, backends)` -> (B, n) array or None."""
    rows = []
    for task, run_dir in task_runs.items():
        for (model, metric), scores in task_scores(run_dir, task, backends).items():
            have = [b for b in backends if b in psnr.index and pd.notna(psnr.get(b))
                    and pd.notna(scores.get(b))]
            reps = replicates(run_dir, task, model, metric, have) if replicates else None
            rows.append(rank_agreement(task, model, metric, have,
                                       [psnr[b] for b in have], [scores[b] for b in have],
                                       reps, level))
    return rows


def write_report(report_dir: Path, store_root: Path, sr_run: Path, cost_run: Path,
                 task_runs: dict[str, Path], backends: list[str], dataset: str,
                 header: list[str], replicates=state_replicates) -> list[Path]:
    """study.md (+ leaderboard.*, rank_agreement.csv, resolution.csv, flops_psnr.png/pdf,
    tables/) in `report_dir`; returns the files written."""
    from bench.commands.run import print_tables
    from bench.report.leaderboard import write_leaderboard
    from bench.report.plots import plot_flops_psnr

    report_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    board = leaderboard_board(store_root, [sr_run, cost_run], dataset)
    written += write_leaderboard(board, report_dir)
    if "psnr_y" in board.table and "GMACs" in board.table:
        written += plot_flops_psnr(board.table, report_dir / "flops_psnr", title=board.title())
    psnr = board.table["psnr_y"] if "psnr_y" in board.table else pd.Series(dtype=float)

    ranks = rank_rows(psnr, task_runs, backends, replicates)
    rank_csv = report_dir / "rank_agreement.csv"
    with atomic.atomic_path(rank_csv) as tmp:
        pd.DataFrame([r.as_dict() for r in ranks]).to_csv(tmp, index=False, float_format="%.6g")
    written.append(rank_csv)

    resolution = resolution_rows(task_runs)
    resolution_csv = report_dir / "resolution.csv"
    with atomic.atomic_path(resolution_csv) as tmp:
        resolution.to_csv(tmp, index=False, float_format="%.6g")
    written.append(resolution_csv)

    md = [*header, "", "## Leaderboard (PSNR/SSIM on the SR test split, cost)", "",
          (report_dir / "leaderboard.md").read_text(encoding="utf-8").strip(), ""]
    if (report_dir / "flops_psnr.png").exists():
        md += ["![cost vs PSNR-Y](flops_psnr.png)", ""]
    md += ["## Does resolution matter on this data? (HR vs LR, each task model)", "",
           resolution_markdown(resolution), "",
           "The loss is the task model's Mean on HR minus on LR (the run's degradation, "
           "`degradation.*` in its config.yaml; x4 = bicubic x4 and back, '+blur..' etc. "
           "name what else it applied), "
           "points of the metric's display unit, positive = HR better; its interval is the Δ "
           "tables' ΔLR interval, negated (the same paired replicates); '~' = it contains 0: "
           "on this data and model no resolution effect is distinguishable, so SR has nothing "
           "to win back there.", ""]
    md += ["## Rank agreement: does PSNR-Y rank the SR backends the way each task does?", "",
           rank_markdown(ranks), "",
           "Kendall τ-b (scipy.stats.kendalltau) between the backends' PSNR-Y and the task "
           "model's Mean on their SR outputs (mean over seeds). Its interval re-ranks the "
           "backends on the bootstrap replicates of the Δ tables (the same resampled test "
           "images for every backend; with several seeds, seeds resampled too) with PSNR-Y "
           "held at its point values; '—' where no per-image state was stored or τ is "
           "undefined (a backend set whose task scores all tie).", ""]
    tables_dir = report_dir / "tables"
    for task, run_dir in task_runs.items():
        result = print_tables(Path(run_dir), as_json=True)
        md += [f"## {task}: Δ tables (run `{Path(run_dir).name}`)", ""]
        for f in result["files"]:
            src = Path(f)
            dest = tables_dir / src.name
            atomic.write_bytes(dest, src.read_bytes())
            written.append(dest)
            if src.suffix == ".md":
                md += [src.read_text(encoding="utf-8").strip(), ""]
    study_md = report_dir / "study.md"
    atomic.write_text(study_md, "\n".join(md).rstrip() + "\n")
    written.append(study_md)
    return written
