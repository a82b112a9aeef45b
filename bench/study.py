"""`bench study`: the whole study from one command — every task x every SR backend x seeds.

A study is a list of ordinary parts, each stored and keyed like the command it stands for:
1. image quality of every backend (`bench eval-sr`; missing weights are trained or distilled
   first, once per data, and shared by every task through the weights cache);
2. cost of every backend (`bench cost`, no latency timing unless asked);
3. one `bench run` per task, with all backends as SR columns and all seeds.
Because each part resumes from the store and the caches, a killed study rerun continues where
it stopped, and a finished one is only re-reported. The report (`study.md` + CSVs + figure)
is derived from the store alone: `write_report` reads the parts' run folders, nothing else.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.config import BenchConfig
from bench.errors import ConfigError


class StudySpec(BaseModel):
    """configs/studies/<name>.yaml, validated once."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[str] = Field(min_length=1)
    backends: list[str] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    # task -> the task models its part trains (default: the task's own task.models). The quick
    # study names each task's main model: the others cost time and add no column.
    models: dict[str, list[str]] = Field(default_factory=dict)
    sr_dataset: str = "synthsewer-sr"
    cost_lr_size: str = "128x128"


def study_names() -> list[str]:
    from bench.paths import config_dir

    return sorted(p.stem for p in (config_dir() / "studies").glob("*.yaml"))


def load_study(name: str) -> StudySpec:
    """A study by name (configs/studies/) or by path to a YAML file."""
    import yaml

    from bench.paths import config_dir
    from bench.registry import did_you_mean

    path = Path(name)
    if not path.suffix:
        path = config_dir() / "studies" / f"{name}.yaml"
        if not path.is_file():
            known = study_names()
            raise ConfigError(f"--study {name!r}: no such study.{did_you_mean(name, known)} "
                              f"Known: {', '.join(known)} (or a path to a YAML file)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: cannot read the study ({reason})") from None
    try:
        spec = StudySpec.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None
    _check_names(spec, path)
    return spec


def _check_names(spec: StudySpec, path: Path) -> None:
    """Every task and backend name must exist: a typo fails before any training. (Each part
    then resolves its names through the same boundary as its command.)"""
    from bench.backends import check_backend_names
    from bench.resolved_task import check_task_name, resolve_task

    for t in spec.tasks:
        check_task_name(t)
    for t, models in spec.models.items():
        if t not in spec.tasks:
            raise ConfigError(f"{path}: models.{t}: {t!r} is not one of the study's tasks "
                              f"({', '.join(spec.tasks)})")
        try:
            resolve_task(t, list(models))   # unknown or repeated model names fail here
        except ConfigError as exc:
            raise ConfigError(f"{path}: models.{t}: {exc}") from None
    check_backend_names(spec.backends)


@dataclass
class StudyParts:
    """Where each part of a study lives in the store, and how long each took here."""

    sr_run: Path | None = None
    cost_run: Path | None = None
    task_runs: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def task_config(base: BenchConfig, spec: StudySpec, task: str, build) -> BenchConfig:
    """The `bench run --task <task>` config of one study part: the task's own defaults,
    then the study's backends and seeds. `build(**direct)` is the command's config builder."""
    part = {"task.name": task, "sr.backends": list(spec.backends), "seeds": list(spec.seeds)}
    if task in spec.models:
        part["task.models"] = list(spec.models[task])
    return build(**part)


def run_study(spec: StudySpec, build, device: str, progress: bool = True) -> StudyParts:
    """Run (or resume) every part of the study; `build(**direct)` builds the validated
    config of a part from the command's options plus the part's own settings."""
    from bench.backends import resolve_backends
    from bench.cache import Cache, cache_root
    from bench.console import log
    from bench.datasets import open_dataset
    from bench.executors import execute
    from bench.runner import finish, open_and_plan, write_manifest
    from bench.sr_eval import evaluate_sr, run_dir_for
    from bench.store import ResultStore
    from bench.training.harness import ensure_weights

    parts = StudyParts()
    cfg = build(**{"sr.backends": list(spec.backends)})
    cache = Cache(cache_root(cfg.cache_dir))
    resolved = resolve_backends(list(spec.backends), cfg)

    t0 = time.monotonic()
    log(f"study: SR backends {', '.join(spec.backends)} (trained once, shared by every task)")
    ensure_weights(resolved, cfg, cache, device, progress=progress)
    parts.seconds["sr_training"] = time.monotonic() - t0

    t0 = time.monotonic()
    t = cfg.sr.train
    data = open_dataset(spec.sr_dataset, seed=cfg.data.seed, n_train=t.n_train, n_val=t.n_val,
                        n_test=cfg.sr.eval.n_test, data_root=cfg.data.sr_data_root)
    store = ResultStore(run_dir_for(cfg, "eval-sr", spec.sr_dataset, data.fingerprint()))
    store.write_manifest(cfg.model_dump(mode="json"), device=device, command="bench study",
                         extra={"dataset": spec.sr_dataset})
    evaluate_sr(cfg, resolved, data, store, cache, device, progress=progress)
    parts.sr_run = store.run_dir
    parts.seconds["sr_quality"] = time.monotonic() - t0

    t0 = time.monotonic()
    parts.cost_run = _costs(cfg, spec, device)
    parts.seconds["cost"] = time.monotonic() - t0

    for task in spec.tasks:
        t0 = time.monotonic()
        tcfg = task_config(cfg, spec, task, build)
        tstore, plan = open_and_plan(tcfg, device)
        write_manifest(tcfg, tstore, plan)
        log(f"study: {task}: run {tstore.run_id}, {len(plan.todo)}/{plan.cells_total} cells "
            f"to compute")
        execute(plan, tstore, progress_bars=progress)
        finish(plan, tstore)
        parts.task_runs[task] = tstore.run_dir
        parts.seconds[task] = time.monotonic() - t0
    return parts


def _costs(cfg: BenchConfig, spec: StudySpec, device: str) -> Path:
    """Static cost rows (params, MACs, paper GFLOPs) of every backend; no latency timing
    (`bench cost` times it: a study on a busy machine would store noise)."""
    import torch

    from bench.backends import resolve_backends
    from bench.commands.perf import _cost, store_costs
    from bench.sizes import parse_size

    h, w = parse_size(spec.cost_lr_size, "cost_lr_size")
    resolved = resolve_backends(list(spec.backends), cfg, random_weights=True)
    reports = {r.name: _cost(r, (h, w), device, 0) for r in resolved}
    return store_costs(cfg.out, cfg.model_dump(mode="json"), reports, spec.cost_lr_size, device,
                       torch.get_num_threads())


def save_parts(parts: StudyParts, path: Path) -> None:
    from bench import atomic

    data = {"sr_run": str(parts.sr_run), "cost_run": str(parts.cost_run),
            "task_runs": {k: str(v) for k, v in parts.task_runs.items()}}
    atomic.write_text(path, json.dumps(data, indent=2, sort_keys=True))
