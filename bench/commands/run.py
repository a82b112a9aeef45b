"""`bench run`, `bench table`, `bench check`: the main job and what is derived from it."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config, show_progress,
                                   emit_json, log, out_console, resolve_device)
from bench.errors import BenchError

RunOpt = Annotated[Path, typer.Option("--run", "-r", help="Run folder (results/runs/<id>) or its id.")]


def _find_run(run: Path, out: Path | None) -> Path:
    candidates = list(dict.fromkeys((run, (out or Path("results/runs")) / run)))
    for candidate in candidates:
        if (candidate / "manifest.json").exists():
            return candidate
    raise BenchError(f"--run {run}: no run folder with a manifest.json there "
                     f"(looked in {' and '.join(map(str, candidates))})")


def print_tables(run_dir: Path, as_json: bool = False) -> dict:
    """Regenerate and show the Δ tables of a run from its stored rows alone."""
    from bench.report.delta import (delta_tables, legend, rich_tables, table_json, title_of,
                                    write_tables)
    from bench.store import ResultStore

    store = ResultStore(run_dir)
    manifest = store.manifest()
    frame = store.load()
    task = manifest.get("task", "segmentation")
    from tasks import TASKS

    spec = TASKS.get(task)
    tables = []
    for metric in spec.table_metrics:
        tables += delta_tables(frame, task, metric, classes=manifest.get("classes"),
                               backends=manifest.get("backends"),
                               models=manifest.get("config", {}).get("task", {}).get("models"),
                               summary_rows=spec.summary_rows)
    if not tables:
        raise BenchError(f"{run_dir}: no {task} rows stored yet (is the run finished?)")
    written = write_tables(tables, run_dir / "tables", task, manifest.get("dataset", "?"))
    result = {"run": store.run_id, "tables": {}, "files": [str(p) for p in written]}
    for t in tables:
        result["tables"][t.model if len(spec.table_metrics) == 1 else f"{t.model}/{t.metric}"] = table_json(t)
        if as_json:
            continue
        title = title_of(t, task, manifest.get("dataset", "?"))
        for rt in rich_tables(t, title, out_console.width):
            out_console.print(rt)
        out_console.print(legend(t) + "\n", highlight=False)
    return result


def _print_plan(info: dict) -> None:
    out_console.print(f"[bold]plan[/] for run {info['run']}: {info['task']} on {info['dataset']} "
                      f"(reference policy {info['ref_policy']})")
    out_console.print(f"cells: {info['cells_todo']} to compute, {info['cells_done']} already "
                      f"stored, {info['cells_total']} in all")
    for name, state in info["sr_backends"].items():
        out_console.print(f"  SR backend {name}: {state}")
    for variant, st in info["sr_outputs"].items():
        out_console.print(f"  {variant} test outputs: {st['cached']} cached, "
                          f"{st['to_compute']} to compute")
    for g in info["groups"]:
        out_console.print(f"  {g['model']} seed {g['seed']} trained on {g['trained_on']}: "
                          f"model {g['task_model']}; evaluate on {', '.join(g['cells'])}")
    if not info["groups"]:
        out_console.print("nothing to do: every cell is stored")


def _check_model(task: str, model: str) -> None:
    """A task model of this task; the error lists only this task's models (and names the
    task a model of another task belongs to)."""
    from bench.registry import did_you_mean
    from tasks import TASK_MODELS, models_for

    if f"{task}/{model}" in TASK_MODELS:
        return
    own = [f"{task}/{m}" for m in models_for(task)]
    elsewhere = [n.split("/", 1)[0] for n in TASK_MODELS.names() if n.endswith(f"/{model}")]
    other = f" ({model!r} is a {elsewhere[0]} model: add --task {elsewhere[0]})" if elsewhere else ""
    close = did_you_mean(model, models_for(task)) and did_you_mean(f"{task}/{model}", own)
    raise BenchError(f"unknown task model {f'{task}/{model}'!r}.{close}{other} Known {task} "
                     f"models: {', '.join(models_for(task))}")


def _finding_json(f) -> dict:
    """A check finding as fields (for CI scripts), with its one-line message."""
    from bench.report.check import KEY

    delta = None if f.value is None else round(f.value - f.baseline, 10)
    return {"kind": f.kind, **dict(zip(KEY, f.key)), "baseline": f.baseline, "value": f.value,
            "delta": delta, "unit": f.unit, "message": f.describe()}


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        task: Annotated[Optional[str], typer.Option("--task", "-t", help="Downstream task (`bench ls tasks`); default: segmentation.")] = None,
        dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Task dataset (default: the task's).")] = None,
        data_root: Annotated[Optional[Path], typer.Option(help="Folder of a real-format dataset (pipe).")] = None,
        backend: Annotated[Optional[list[str]], typer.Option("--backend", "-b", help="SR backends (repeatable; default from config).")] = None,
        model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Task models (repeatable; default: the task's).")] = None,
        fresh: Annotated[bool, typer.Option(help="Start a new run folder instead of resuming (caches still apply).")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (cells, what is cached, what will be trained or upscaled) and exit.")] = False,
        executor: Annotated[Optional[str], typer.Option("--executor", "-x", help="local (default) | ray.")] = None,
        ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster: auto | HOST:PORT (default: start a local one).")] = None,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """The main job: train task models on HR, evaluate on HR / LR / `SR:<backend>`, print the
        paper-style ΔLR/ΔSR/ΔHR table per class. Rerunning resumes; caches make reruns cheap."""
        from bench.cache import Cache
        from bench.executors import check_executor, execute
        from bench.plan import describe
        from bench.runner import finish, open_and_plan, write_manifest
        from tasks import TASK_MODELS, TASKS

        if executor is not None and executor not in ("local", "ray"):
            raise BenchError(f"--executor {executor!r}: expected local or ray")
        direct = {"task.name": task, "data.dataset": dataset,
                  "data.data_root": str(data_root) if data_root else None,
                  "sr.backends": backend, "task.models": model, "executor.name": executor,
                  "executor.address": ray_address}
        cfg = build_config(config, sets, profile, out, **direct)
        check_executor(cfg.executor, ray_address)
        spec = TASKS.get(cfg.task.name)
        from bench.datasets import DATASETS

        DATASETS.check(cfg.data.dataset)
        if not cfg.task.models:
            raise BenchError(f"task.models is empty: name at least one {cfg.task.name} model "
                             f"(`bench ls tasks`)")
        for m in cfg.task.models:
            _check_model(cfg.task.name, m)
        device = resolve_device(cfg.device)
        store, plan = open_and_plan(cfg, device, fresh=fresh)
        cache = Cache(plan.cache_root)
        from bench.console import SMOKE_NOTE, smoke_note
        from bench.datasets import sr_data_note

        data_note = sr_data_note(cfg.data, [n for n, b in plan.backends.items()
                                            if b.trained_by_harness])
        notes = [n for n in (data_note, SMOKE_NOTE if cfg.profile == "smoke" else "") if n]
        if dry_run:
            info = describe(plan, cache)
            info["notes"] = notes
            if as_json:
                emit_json(info)
            else:
                _print_plan(info)
                for note in info["notes"]:
                    out_console.print(note, highlight=False)
            return
        if any(b.spec.kind == "file" for b in plan.backends.values()):
            from bench.plan import open_task_dataset
            from bench.sr_eval import preflight

            # a model file that outputs NaN or the wrong shape: refused before the run folder
            preflight(plan.cfg, list(plan.backends.values()), open_task_dataset(plan.cfg),
                      cache, device)
        write_manifest(cfg, store, plan)
        log(f"run {store.run_id}: {spec.name} on {cfg.data.dataset}, profile {cfg.profile}, "
            f"device {device}, {plan.threads} thread(s), backends {', '.join(cfg.sr.backends)}, "
            f"protocol {cfg.task.protocol}, executor {cfg.executor.name}; "
            f"{len(plan.todo)}/{plan.cells_total} cells to compute")
        smoke_note(cfg.profile)
        if data_note:
            log(data_note)
        for m in cfg.task.models:
            log(f"  {m}: {TASK_MODELS.get(f'{cfg.task.name}/{m}').describe(cfg.task.size)}")
        summary = execute(plan, store, progress_bars=show_progress(not as_json))
        finish(plan, store)
        result = print_tables(store.run_dir, as_json=as_json)
        result["notes"] = notes
        result.update({"summary": {"cells_total": summary.cells_total,
                                   "cells_computed": summary.cells_computed,
                                   "seconds": round(summary.seconds, 1), "cache": summary.cache,
                                   "ref_policy": summary.ref_policy, "profile": cfg.profile,
                                   "device": device, "executor": cfg.executor.name,
                                   "stages_s": {k: round(v, 1) for k, v in summary.stages.items()}}})
        if as_json:
            emit_json(result)
            return
        c = summary.cache
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in summary.stages.items())
        out_console.print(
            f"[bold]done[/] in {summary.seconds:.0f} s ({stages}) — run [cyan]{store.run_id}[/] "
            f"({summary.cells_computed}/{summary.cells_total} cells computed, the rest resumed)\n"
            f"cache: task models trained {c.get('task_trained', 0)}, reused {c.get('task_hit', 0)}; "
            f"SR outputs computed {c.get('sr_miss', 0)}, reused {c.get('sr_hit', 0)}; "
            f"SR backends trained {c.get('weights_trained', 0)}, reused {c.get('weights_hit', 0)}\n"
            f"reference policy: {summary.ref_policy}; tables: {store.run_dir / 'tables'}\n"
            f"regenerate: bench table --run {store.run_dir}")
        for note in notes:
            out_console.print(note, highlight=False)

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
        tolerance: Annotated[float, typer.Option(help="Allowed absolute drop, in the units the tables print (IoU in %: 2 = two points).")] = 0.0,
        rel_tolerance: Annotated[float, typer.Option(help="Allowed relative drop (fraction of the baseline).")] = 0.0,
        write_baseline: Annotated[bool, typer.Option("--write-baseline", help="Write the run's metrics to --baseline instead of checking.")] = False,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Fail (exit 1) when any metric regresses past the tolerance vs a committed baseline."""
        from bench.report.check import check as compare, read_baseline, write_baseline as write
        from bench.store import ResultStore

        frame = ResultStore(_find_run(run, out)).load()
        if write_baseline:
            n = write(frame, baseline)
            out_console.print(f"wrote {n} baseline entries to {baseline}")
            return
        base = read_baseline(baseline)
        if base.empty:  # a gate that compares nothing must not pass
            raise BenchError(f"--baseline {baseline}: no entries (header only), so the check "
                             "would compare 0 metrics; write one with --write-baseline")
        report = compare(frame, base, tolerance, rel_tolerance)
        findings = report.findings
        if as_json:
            emit_json({"ok": report.ok, "compared": report.compared, "units": report.units,
                       "findings": [_finding_json(f) for f in findings]})
        else:
            for f in findings:
                out_console.print(f"[red]{f.describe()}[/]", highlight=False)
            out_console.print(report.summary(), highlight=False)
            if not findings:
                out_console.print("[green]ok[/]: no metric regressed past the tolerance")
        if findings:
            raise typer.Exit(1)
