"""`bench run`, `bench table`, `bench check`: the main job and what is derived from it."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config, show_progress,
                                   emit_json, log, out_console, resolve_device)
from bench.errors import BenchError

RunOpt = Annotated[Path, typer.Option("--run", "-r", help="Run folder (results/runs/<id>) or its id.")]


def _find_run(run: Path, out: Path | None) -> Path:
    for candidate in (run, (out or Path("results/runs")) / run):
        if (candidate / "manifest.json").exists():
            return candidate
    raise BenchError(f"--run {run}: no run folder with a manifest.json there "
                     f"(looked in {run} and {(out or Path('results/runs')) / run})")


def print_tables(run_dir: Path, as_json: bool = False) -> dict:
    """Regenerate and show the Δ tables of a run from its stored rows alone."""
    from bench.report.delta import delta_tables, write_tables
    from bench.store import ResultStore

    store = ResultStore(run_dir)
    manifest = store.manifest()
    frame = store.load()
    task = manifest.get("task", "segmentation")
    tables = delta_tables(frame, task, "iou", classes=manifest.get("classes"),
                          backends=manifest.get("backends"),
                          models=manifest.get("config", {}).get("task", {}).get("models"))
    if not tables:
        raise BenchError(f"{run_dir}: no {task} rows stored yet (is the run finished?)")
    written = write_tables(tables, run_dir / "tables", task, manifest.get("dataset", "?"))
    result = {"run": store.run_id, "tables": {}, "files": [str(p) for p in written]}
    for t in tables:
        result["tables"][t.model] = {"mean": t.mean.round(4).to_dict(orient="index"),
                                     "std": t.std.round(4).to_dict(orient="index"),
                                     "n_seeds": t.n_seeds, "unit": "%"}
        if as_json:
            continue
        f = t.formatted()
        rt = Table(title=f"{t.model} — {task} {t.metric} (%) on {manifest.get('dataset')}, "
                         f"{t.n_seeds} seed(s); ΔLR=LR−HR, ΔSR=SR−LR, ΔHR=HR−SR")
        rt.add_column("Class")
        for col in f.columns:
            rt.add_column(col, justify="right")
        for cls, row in zip(f.index, f.values):
            rt.add_row(cls, *row, end_section=(cls == "Mean"))
        out_console.print(rt)
    return result


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        task: Annotated[str, typer.Option("--task", "-t", help="Downstream task: segmentation.")] = "segmentation",
        dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Task dataset (default synthsewer-pipe).")] = None,
        data_root: Annotated[Optional[Path], typer.Option(help="Folder of a real-format dataset (pipe).")] = None,
        backend: Annotated[Optional[list[str]], typer.Option("--backend", "-b", help="SR backends (repeatable; default from config).")] = None,
        model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Task models (repeatable; default: all).")] = None,
        fresh: Annotated[bool, typer.Option(help="Start a new run folder instead of resuming (caches still apply).")] = False,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """The main job: train task models on HR, evaluate on HR / LR / SR:<backend>, print the
        paper-style ΔLR/ΔSR/ΔHR table per class. Rerunning resumes; caches make reruns cheap."""
        import time

        from bench.cache import Cache, cache_root, key_of
        from bench.datasets import DATASETS
        from bench.runner import run_task
        from bench.store import ResultStore
        from sr_backends import BACKENDS
        from tasks import TASKS, TASK_MODELS

        if task not in TASKS:
            raise BenchError(f"--task {task!r}: available tasks: {', '.join(TASKS)} "
                             "(detection and classification are on the roadmap)")
        direct = {"data.dataset": dataset, "data.data_root": str(data_root) if data_root else None,
                  "sr.backends": backend, "task.models": model, "task.name": task}
        cfg = build_config(config, sets, profile, out, **direct)
        DATASETS.check(cfg.data.dataset)
        for b in cfg.sr.backends:
            BACKENDS.check(b)
        for m in cfg.task.models:
            TASK_MODELS.check(f"{task}/{m}")
        device = resolve_device(cfg.device)
        run_key = key_of(cfg.fingerprint(), time.time_ns() if fresh else "")[:10]
        store = ResultStore(Path(cfg.out) / f"{task}-{cfg.data.dataset}-{run_key}")
        cache = Cache(cache_root(cfg.cache_dir))
        from bench.datasets import open_dataset

        classes = list(open_dataset(cfg.data.dataset, seed=cfg.data.seed, n_train=cfg.data.n_train,
                                    n_val=cfg.data.n_val, n_test=cfg.data.n_test,
                                    data_root=cfg.data.data_root).classes)
        if not (store.run_dir / "manifest.json").exists():
            store.write_manifest(cfg.model_dump(mode="json"), device=device,
                                 command="bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                                 extra={"task": task, "dataset": cfg.data.dataset, "classes": classes,
                                        "backends": cfg.sr.backends, "protocol": cfg.task.protocol})
        log(f"run {store.run_id}: {task} on {cfg.data.dataset}, profile {cfg.profile}, device "
            f"{device}, backends {', '.join(cfg.sr.backends)}, protocol {cfg.task.protocol}")
        for m in cfg.task.models:
            log(f"  {m}: {TASK_MODELS.get(f'{task}/{m}').describe(cfg.task.size)}")
        summary = run_task(cfg, store, cache, device, progress=show_progress(not as_json))
        result = print_tables(store.run_dir, as_json=as_json)
        result.update({"summary": {"cells_total": summary.cells_total,
                                   "cells_computed": summary.cells_computed,
                                   "seconds": round(summary.seconds, 1), "cache": summary.cache,
                                   "ref_policy": summary.ref_policy, "profile": cfg.profile,
                                   "device": device}})
        if as_json:
            emit_json(result)
            return
        c = summary.cache
        out_console.print(
            f"[bold]done[/] in {summary.seconds:.0f} s — run [cyan]{store.run_id}[/] "
            f"({summary.cells_computed}/{summary.cells_total} cells computed, the rest resumed)\n"
            f"cache: task models trained {c.get('task_trained', 0)}, reused {c.get('task_hit', 0)}; "
            f"SR outputs computed {c.get('sr_miss', 0)}, reused {c.get('sr_hit', 0)}; "
            f"SR backends trained {c.get('weights_trained', 0)}, reused {c.get('weights_hit', 0)}\n"
            f"reference policy: {summary.ref_policy}; tables: {store.run_dir / 'tables'}\n"
            f"regenerate: bench table --run {store.run_dir}")

    @app.command("table")
    def table(run: RunOpt, out: OutOpt = None, as_json: JsonOpt = False) -> None:
        """Regenerate a run's Δ tables (rich, Markdown, CSV, LaTeX) from the store alone."""
        result = print_tables(_find_run(run, out), as_json=as_json)
        if as_json:
            emit_json(result)
        else:
            log("written: " + ", ".join(result["files"]))

    @app.command("check")
    def check(
        run: RunOpt,
        baseline: Annotated[Path, typer.Option("--baseline", help="Baseline CSV (task, model, variant, cls, metric, value).")],
        tolerance: Annotated[float, typer.Option(help="Allowed absolute drop, in the metric's units.")] = 0.0,
        rel_tolerance: Annotated[float, typer.Option(help="Allowed relative drop (fraction of the baseline).")] = 0.0,
        write_baseline: Annotated[bool, typer.Option("--write-baseline", help="Write the run's metrics to --baseline instead of checking.")] = False,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Fail (exit 1) when any metric regresses past the tolerance vs a committed baseline."""
        from bench.report.check import compare, read_baseline, write_baseline as write
        from bench.store import ResultStore

        frame = ResultStore(_find_run(run, out)).load()
        if write_baseline:
            n = write(frame, baseline)
            out_console.print(f"wrote {n} baseline entries to {baseline}")
            return
        findings = compare(frame, read_baseline(baseline), tolerance, rel_tolerance)
        if as_json:
            emit_json({"ok": not findings, "findings": [f.describe() for f in findings]})
        else:
            for f in findings:
                out_console.print(f"[red]{f.describe()}[/]")
            if not findings:
                out_console.print("[green]ok[/]: no metric regressed past the tolerance")
        if findings:
            raise typer.Exit(1)
