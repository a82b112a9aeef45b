"""Executing a plan's work units. Each function is a pure function of (plan, unit, caches): it
reads the data and the content-addressed caches, writes only to the caches (atomically), and
returns result rows — it never writes the store. So any process that sees the cache path can
run it (bench/executors.py), a retried unit recomputes nothing another finished, and the
driver stays the single writer of result rows.

Units, in order: `train_sr(plan, name)` (a learned backend without weights), then
`run_group(plan, group)` (one task-model fit + its evaluations; SR outputs are computed on
first use and cached).
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

from bench.cache import Cache
from bench.locks import key_lock
from bench.plan import Group, Plan, open_task_dataset, task_model_key
from bench.store import Row
from bench.variants import Targets, VariantContext, VariantImages
from tasks.base import FitConfig, TaskModel


def fit_config(plan: Plan, group: Group) -> FitConfig:
    """The task's fit settings with the spec's and the config's per-model options applied
    (the options that are the model's construction settings: `model_settings`)."""
    from tasks import TASKS

    t = plan.cfg.task
    settings = TASKS.get(plan.task).model_settings.get(group.model, {})
    options = {**TASKS.get(plan.task).model_options.get(group.model, {}),
               **t.model_options.get(group.model, {})}
    base = dict(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, image_size=t.image_size,
                size=t.size)
    unknown = set(options) - set(base) - set(settings)
    if unknown:
        from bench.errors import ConfigError
        from bench.registry import did_you_mean

        first = min(unknown)
        raise ConfigError(f"task.model_options.{group.model}: unknown key(s) "
                          f"{', '.join(sorted(unknown))};{did_you_mean(first, [*base, *settings])}"
                          f" expected {', '.join([*base, *settings])}")
    model_settings(plan, group)  # a bad value fails with the keys, at planning
    fit = {k: v for k, v in options.items() if k not in settings}
    return FitConfig(**{**base, **fit}, seed=group.seed, device=plan.device)


def model_settings(plan: Plan, group: Group) -> dict[str, str]:
    """The model's construction settings (TaskSpec.model_settings): the config's
    `task.model_options.<model>` values, else each setting's default; checked one by one."""
    from tasks import TASKS

    allowed = TASKS.get(plan.task).model_settings.get(group.model, {})
    given = plan.cfg.task.model_options.get(group.model, {})
    for key, choices in allowed.items():
        if key in given and given[key] not in choices:
            from bench.errors import ConfigError
            from bench.registry import did_you_mean

            raise ConfigError(f"task.model_options.{group.model}.{key}: {given[key]!r} is not "
                              f"one of {', '.join(choices)}.{did_you_mean(given[key], choices)}")
    return {key: given.get(key, choices[0]) for key, choices in allowed.items()}


def _sr_fingerprint(plan: Plan, group: Group, ctx: VariantContext) -> str | None:
    if not group.trained_on.startswith("SR:"):
        return None
    return ctx.backend(group.trained_on[3:]).fingerprint()


def group_state(plan: Plan, group: Group, cache: Cache) -> str:
    """"cached" | "will be trained" — for the dry run."""
    if group.trained_on.startswith("SR:"):
        backend = plan.backends[group.trained_on[3:]]
        if not backend.has_weights(cache):
            return "will be trained (after its SR backend)"
    ctx = _context(plan, cache)
    key = task_model_key(plan, group, fit_config(plan, group), _sr_fingerprint(plan, group, ctx),
                         model_settings(plan, group))
    return "cached" if _is_complete(cache.task_dir(key)) else "will be trained"


def _context(plan: Plan, cache: Cache) -> VariantContext:
    return VariantContext(plan.cfg, cache, plan.device, plan.policy, plan.sr_context,
                          plan.backends)


def _is_complete(directory: Path) -> bool:
    return directory.is_dir() and all((directory / f).is_file()
                                      for f in ("model.json", "model.safetensors"))


def _prepare_process(plan: Plan) -> None:
    """Same numeric environment in every process that runs a unit (the driver's threads)."""
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["SEWER_BENCH_CACHE"] = plan.cache_root  # generated datasets cache there too
    if torch.get_num_threads() != plan.threads:
        torch.set_num_threads(plan.threads)


def train_sr(plan: Plan, name: str, progress: bool = False) -> str:
    """Train learned backend `name` into the cache (no-op when its weights exist)."""
    from bench.training.harness import train_backend

    _prepare_process(plan)
    cache = Cache(Path(plan.cache_root))
    backend = plan.backends[name]
    if not backend.has_weights(cache):
        train_backend(backend, plan.cfg, cache, plan.device, progress=progress)
    return name


def run_group(plan: Plan, group: Group, progress=None) -> tuple[list[tuple[str, list[Row]]], dict]:
    """Fit (or load) the group's task model, evaluate it on every cell's variant.

    Returns [(cell id, rows)] in the group's cell order and the cache counters. `progress`
    (optional) is called as progress(stage, step, total, text)."""
    from tasks import TASK_MODELS

    _prepare_process(plan)
    _fault_injection_group()
    cache = Cache(Path(plan.cache_root))
    dataset = open_task_dataset(plan.cfg)
    train, test = dataset.split("train"), dataset.split("test")
    ctx = _context(plan, cache)
    fit, settings = fit_config(plan, group), model_settings(plan, group)
    full_name = f"{plan.task}/{group.model}"
    key = task_model_key(plan, group, fit, _sr_fingerprint(plan, group, ctx), settings)
    directory = cache.task_dir(key)
    model: TaskModel = TASK_MODELS.get(full_name)(**settings)
    # one process trains a given task model; another that needs it waits, then loads it
    with key_lock(cache.lock_path("task", key), f"the {full_name} model ({group.label})"):
        if _is_complete(directory):
            model.load(directory, device=plan.device)
            cache.count("task_hit")
        else:
            from bench.training.task_log import TaskTrainLog

            train_log = TaskTrainLog(directory, f"{full_name} ({group.label})")

            def report(step: int, total: int, text: str) -> None:
                train_log.step(step, total, text)
                if progress is not None:
                    progress(f"train {group.model} ({group.trained_on})", step, total, text)

            model.fit(VariantImages(train, group.trained_on, ctx), Targets(train),
                      plan.classes, fit, progress=report)
            train_log.close()
            cache.publish_dir(directory, model.save, complete=_is_complete)
            cache.count("task_trained")
    results = []
    for cell in group.cells:
        if progress is not None:
            progress(f"evaluate {group.model} on {cell.evaluated_on}", 0, 1, "")
        metrics = model.evaluate(VariantImages(test, cell.evaluated_on, ctx), Targets(test),
                                 plan.classes)
        ref = plan.policy if (cell.evaluated_on.startswith("SR:") and
                              plan.backends[cell.evaluated_on[3:]].needs_reference) else ""
        rows = [Row(plan.run_id, plan.dataset, plan.task, group.model, cell.evaluated_on,
                    m.cls, m.metric, m.value, group.seed, plan.cfg.task.protocol, ref,
                    m.higher_is_better) for m in metrics]
        results.append((cell.id, rows))
    return results, dict(cache.stats)


def _fault_injection_group() -> None:
    """Test hook: with SEWER_BENCH_KILL_GROUP_ONCE=<file>, the first group to start creates
    <file> and kills its own process (SIGKILL), like a worker machine dying mid-group."""
    marker = os.environ.get("SEWER_BENCH_KILL_GROUP_ONCE")
    if marker and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
