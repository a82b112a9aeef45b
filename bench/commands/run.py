"""`bench run`, `bench table`, `bench check`: the main job and what is derived from it."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config, show_progress,
                                   emit_json, log, out_console, resolve_device)
from bench.config import DEFAULT_TASK
from bench.errors import BenchError

RunOpt = Annotated[Path, typer.Option("--run", "-r", help="Run folder (results/runs/<id>) or its id.")]


def _find_run(run: Path, out: Path | None) -> Path:
    candidates = list(dict.fromkeys((run, (out or Path("results/runs")) / run)))
    for candidate in candidates:
        if (candidate / "manifest.json").exists():
            return candidate
    raise BenchError(f"--run {run}: no run folder with a manifest.json there "
                     f"(looked in {' and '.join(map(str, candidates))})")


def model_labels(task_cfg: dict, task: str, models: list[str]) -> dict[str, str]:
    """model -> the network it builds (TaskModel.describe of its effective size preset: a
    per-model `size` option overrides task.size, as in fit_config); {} for unknown names."""
    from bench.resolved_task import resolve_task

    try:
        resolved = resolve_task(task, list(models))
    except BenchError:
        return {}
    out = {}
    for m in models:
        options = {**resolved.model_options(m), **(task_cfg.get("model_options") or {}).get(m, {})}
        try:
            out[m] = resolved.describe_model(m, options.get("size", task_cfg.get("size")))
        except (KeyError, ValueError, ImportError):
            pass
    return out


def _model_labels(manifest: dict, task: str, models: list[str]) -> dict[str, str]:
    """From the manifest (written by the run), else described now (older runs)."""
    labels = dict(manifest.get("model_labels") or {})
    missing = [m for m in models if m not in labels]
    if missing:
        labels.update(model_labels(manifest.get("config", {}).get("task", {}), task, missing))
    return labels


def resampled_states(store, task: str, classes: list[str], settings) -> dict:
    """model -> bench.stats Resampled of the run's stored evaluation states (empty when the
    run stored none): the replays come from the task's Evaluator (tasks.EVALUATORS)."""
    from bench.resolved_task import task_evaluator
    from bench.stats.intervals import NotPaired, Resampled

    by_model: dict[str, dict[int, dict]] = {}
    evaluator = None
    for key, state in store.states():
        if key["task"] != task:
            continue
        evaluator = evaluator or task_evaluator(task)
        by_model.setdefault(key["model"], {}).setdefault(key["seed"], {})[key["variant"]] = \
            evaluator.replay(state, classes)
    try:
        return {m: Resampled(r, settings) for m, r in by_model.items()}
    except NotPaired as exc:
        raise BenchError(f"{store.run_dir}: {exc}") from None


def _manifest_of(run_dir: Path) -> dict:
    from bench.store import ResultStore

    return ResultStore(run_dir).manifest()


def stats_settings(manifest: dict):
    """The run's `stats.*` (defaults for runs made before the section existed)."""
    from bench.stats.bootstrap import Settings

    given = manifest.get("config", {}).get("stats") or {}
    return Settings(**{k: given[k] for k in ("bootstrap", "level", "seed") if k in given})


def print_tables(run_dir: Path, as_json: bool = False, settings=None) -> dict:
    """Regenerate and show the Δ tables of a run — values and intervals — from its stored
    rows and evaluation states alone (no model, no image)."""
    from bench.report.delta import (delta_tables, legend, rich_tables, sr_note, table_json,
                                    title_of, write_tables)
    from bench.store import ResultStore

    store = ResultStore(run_dir)
    manifest = store.manifest()
    frame = store.load()
    from bench.resolved_task import task_spec

    task = manifest.get("task", DEFAULT_TASK)
    spec = task_spec(task)
    settings = settings or stats_settings(manifest)
    classes = manifest.get("classes") or []
    resampled = resampled_states(store, task, classes, settings) if classes else {}
    models = manifest.get("config", {}).get("task", {}).get("models")
    labels = _model_labels(manifest, task, sorted(set(frame["model"])) if len(frame) else [])
    tables = []
    for metric in spec.table_metrics:
        tables += delta_tables(frame, task, metric, classes=classes or None,
                               backends=manifest.get("backends"), models=models,
                               summary_rows=spec.shown_summary_rows(
                                   manifest.get("config", {}).get("task", {})),
                               resampled=resampled,
                               labels=labels)
    if not tables:
        raise BenchError(f"{run_dir}: no {task} rows stored yet (is the run finished?)")
    dataset = manifest.get("dataset", "?")
    profile = manifest.get("config", {}).get("profile", "")
    n_test = manifest.get("config", {}).get("data", {}).get("n_test")
    sr = sr_note(manifest.get("config", {}), manifest.get("backends"))
    titles = [title_of(t, task, dataset, profile,
                       t.intervals.n_images if t.intervals else n_test, sr) for t in tables]
    written = write_tables(tables, run_dir / "tables", task, dataset, titles)
    result = {"run": store.run_id, "tables": {}, "files": [str(p) for p in written]}
    for t, title in zip(tables, titles):
        result["tables"][t.model if len(spec.table_metrics) == 1 else f"{t.model}/{t.metric}"] = \
            {**table_json(t), "title": title}
        if as_json:
            continue
        for rt in rich_tables(t, title, out_console.width):
            out_console.print(rt)
        out_console.print(legend(t) + "\n", highlight=False, markup=False)
        if t.contrasts:
            from bench.report.contrast import to_markdown as contrast_markdown
            out_console.print(contrast_markdown(t, t.contrasts).strip() + "\n",
                              highlight=False, markup=False)
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


def _finding_json(f) -> dict:
    """A check finding as fields (for CI scripts), with its one-line message."""
    from bench.report.check import KEY

    delta = None if f.value is None else round(f.value - f.baseline, 10)
    return {"kind": f.kind, **dict(zip(KEY, f.key)), "baseline": f.baseline, "value": f.value,
            "delta": delta, "unit": f.unit, "message": f.describe()}


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        task: Annotated[Optional[str], typer.Option("--task", "-t", help=f"Downstream task (`bench ls tasks`); default: {DEFAULT_TASK}.")] = None,
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
        from bench.dryrun import describe
        from bench.executors import check_executor, execute
        from bench.registry import did_you_mean
        from bench.runner import finish, open_and_plan, write_manifest

        from bench.config import EXECUTORS

        if executor is not None and executor not in EXECUTORS:
            raise BenchError(f"--executor {executor!r}: expected "
                             f"{' or '.join(EXECUTORS.names())}.{did_you_mean(executor, EXECUTORS)}")
        direct = {"task.name": task, "data.dataset": dataset,
                  "data.data_root": str(data_root) if data_root else None,
                  "sr.backends": backend, "task.models": model, "executor.name": executor,
                  "executor.address": ray_address}
        cfg = build_config(config, sets, profile, out, **direct)
        check_executor(cfg.executor, ray_address)
        from bench.datasets import DATASETS

        DATASETS.check(cfg.data.dataset)
        from bench.resolved_task import resolve_task_of

        resolve_task_of(cfg)  # task and model names: one line, before any data is opened
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
        if any(b.spec.needs_weights_file for b in plan.backends.values()):
            from bench.plan import open_task_dataset
            from bench.sr_eval import preflight

            # a model file that outputs NaN or the wrong shape: refused before the run folder
            preflight(plan.cfg, list(plan.backends.values()), open_task_dataset(plan.cfg),
                      cache, device)
        labels = model_labels(cfg.task.model_dump(mode="json"), cfg.task.name, cfg.task.models)
        write_manifest(cfg, store, plan, labels)
        task_ = plan.task
        smoke_note(cfg.profile)  # notes first: after "cells to compute" the work starts
        if data_note:
            log(data_note)
        log(f"run {store.run_id}: {task_.name} on {cfg.data.dataset}, profile {cfg.profile}, "
            f"device {device}, {plan.threads} thread(s), backends {', '.join(cfg.sr.backends)}, "
            f"protocol {cfg.task.protocol}, executor {cfg.executor.name}; "
            f"{len(plan.todo)}/{plan.cells_total} cells to compute")
        for m in task_.models:
            log(f"  {m}: {labels.get(m) or task_.describe_model(m, cfg.task.size)}")
        summary = execute(plan, store, progress_bars=show_progress(not as_json))
        finish(plan, store)
        from bench.stats.bootstrap import Settings

        result = print_tables(store.run_dir, as_json=as_json,  # this command's stats.*
                              settings=Settings(**cfg.stats.model_dump()))
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
    def table(
        run: RunOpt, out: OutOpt = None, as_json: JsonOpt = False,
        bootstrap: Annotated[Optional[int], typer.Option(metavar="B", help="Bootstrap resamples (default: the run's stats.bootstrap).")] = None,
        level: Annotated[Optional[float], typer.Option(metavar="LEVEL", help="Interval level in (0, 1) (default: the run's stats.level).")] = None,
        stats_seed: Annotated[Optional[int], typer.Option(metavar="SEED", help="Resampling seed (default: the run's stats.seed).")] = None,
    ) -> None:
        """Regenerate a run's Δ tables (rich, Markdown, CSV, LaTeX) and their bootstrap
        intervals from the store alone (no model, no image)."""
        import dataclasses

        run_dir = _find_run(run, out)
        settings = stats_settings(_manifest_of(run_dir))
        given = {k: v for k, v in (("bootstrap", bootstrap), ("level", level),
                                   ("seed", stats_seed)) if v is not None}
        if bootstrap is not None and bootstrap <= 0:
            raise BenchError(f"--bootstrap {bootstrap}: expected an integer > 0")
        if level is not None and not 0 < level < 1:
            raise BenchError(f"--level {level}: expected a number in (0, 1)")
        if stats_seed is not None and stats_seed < 0:
            raise BenchError(f"--stats-seed {stats_seed}: expected an integer >= 0")
        result = print_tables(run_dir, as_json=as_json,
                              settings=dataclasses.replace(settings, **given))
        if as_json:
            emit_json(result)
        else:
            log("written: " + ", ".join(result["files"]))

    @app.command("check")
    def check(
        run: RunOpt,
        baseline: Annotated[Path, typer.Option("--baseline", help="Baseline CSV (task, model, variant, cls, metric, value, lo, hi + its selection).")],
        tolerance: Annotated[str, typer.Option(metavar="NUMBER|auto", help="Allowed absolute drop, in the units the tables print (IoU in %: 2 = two points); auto = outside the baseline's interval (docs/uncertainty.md).")] = "0",
        rel_tolerance: Annotated[float, typer.Option(help="Allowed relative drop (fraction of the baseline).")] = 0.0,
        write_baseline: Annotated[bool, typer.Option("--write-baseline", help="Write the run's metrics, intervals and selection to --baseline instead of checking.")] = False,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Fail (exit 1) when any metric regresses past the tolerance vs a committed baseline
        of the same selection (another selection: exit 2)."""
        from bench.report.check import (check as compare, check_selection, parse_tolerance,
                                        read_baseline, selection_of, write_baseline as write)
        from bench.store import ResultStore

        tol = parse_tolerance(tolerance)
        store = ResultStore(_find_run(run, out))
        manifest = store.manifest()
        frame = store.load()
        task = manifest.get("task", "segmentation")
        if write_baseline:
            n = write(frame, baseline, selection_of(manifest), _bounds(store, manifest, frame))
            out_console.print(f"wrote {n} baseline entries to {baseline}")
            return
        base = read_baseline(baseline)
        if base.empty:  # a gate that compares nothing must not pass
            raise BenchError(f"--baseline {baseline}: no entries (header only), so the check "
                             "would compare 0 metrics; write one with --write-baseline")
        check_selection(base, baseline, selection_of(manifest), task)
        report = compare(frame, base, tol, rel_tolerance)
        findings = report.findings
        if as_json:
            emit_json({"ok": report.ok, "compared": report.compared, "units": report.units,
                       "tolerance": tol, "findings": [_finding_json(f) for f in findings]})
        else:
            for f in findings:
                out_console.print(f"[red]{f.describe()}[/]", highlight=False)
            out_console.print(report.summary(), highlight=False)
            if not findings:
                out_console.print("[green]ok[/]: no metric regressed past the tolerance")
        if findings:
            raise typer.Exit(1)


def _bounds(store, manifest: dict, frame) -> dict:
    """(task, model, variant, cls, metric) -> (lo, hi) of the seed mean, store units, from
    the run's stored evaluation states (empty without states)."""
    from bench.stats.bootstrap import percentile_interval

    task, classes = manifest.get("task", "segmentation"), manifest.get("classes") or []
    settings = stats_settings(manifest)
    out = {}
    for model, res in (resampled_states(store, task, classes, settings) if classes else {}).items():
        sub = frame[frame["model"] == model]
        for variant in sorted(set(sub["variant"])):
            keys = sorted({(str(c), str(m)) for c, m in zip(sub[sub["variant"] == variant]["cls"],
                                                            sub[sub["variant"] == variant]["metric"])})
            x = res.variant(variant, keys)
            if x is None:
                continue
            lo, hi = percentile_interval(x, settings.level)
            for (c, m), a, b in zip(keys, lo, hi):
                out[(task, str(model), variant, c, m)] = (float(a), float(b))
    return out
