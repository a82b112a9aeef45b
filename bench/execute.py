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
from pathlib import Path

from bench.cache import Cache
from bench.faults import fault
from bench.locks import key_lock
from bench.own_task import fit_own, group_task_key, protocol_of
from bench.plan import Group, Plan, fit_config, model_settings, open_task_dataset
from bench.store import Row
from bench.variants import Targets, VariantContext, VariantImages


def _sr_fingerprint(plan: Plan, group: Group, ctx: VariantContext) -> str | None:
    if not group.trained_on.is_sr:
        return None
    return ctx.backend(group.trained_on.backend).fingerprint()


def group_state(plan: Plan, group: Group, cache: Cache) -> str:
    """"cached" | "will be trained" — for the dry run."""
    if group.trained_on.is_sr:
        if not group.trained_on.resolved.has_weights(cache):
            return "will be trained (after its SR backend)"
    ctx = _context(plan, cache)
    key = group_task_key(plan, group, fit_config(plan, group), model_settings(plan, group),
                         _sr_fingerprint(plan, group, ctx))
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

    Returns [(cell id, rows, evaluation state)] in the group's cell order and the cache counters. `progress`
    (optional) is called as progress(stage, step, total, text)."""
    _prepare_process(plan)
    fault("group")  # test-only (bench/faults.py)
    cache = Cache(Path(plan.cache_root))
    dataset = open_task_dataset(plan.cfg)
    train, test = dataset.split("train"), dataset.split("test")
    ctx = _context(plan, cache)
    fit, settings = fit_config(plan, group), model_settings(plan, group)
    full_name = f"{plan.task.name}/{group.model}"
    key = group_task_key(plan, group, fit, settings, _sr_fingerprint(plan, group, ctx))
    directory = cache.task_dir(key)
    model = plan.task.make_model(group.model, **settings)
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

            if protocol_of(group):  # an SR column's own task model (s2t, joint)
                fit_own(plan, group, model, fit, settings, cache,
                        lambda v: VariantImages(train, v, ctx), Targets(train), report)
            else:
                model.fit(VariantImages(train, group.trained_on, ctx), Targets(train),
                          plan.classes, fit, progress=report)
            train_log.close()
            cache.publish_dir(directory, model.save, complete=_is_complete)
            cache.count("task_trained")
    results = []
    for cell in group.cells:
        if progress is not None:
            progress(f"evaluate {group.model} on {cell.evaluated_on}", 0, 1, "")
        evaluator = model.run_evaluator(VariantImages(test, cell.evaluated_on, ctx),
                                        Targets(test), plan.classes)
        metrics = evaluator.compute()
        ref = plan.policy if cell.evaluated_on.needs_reference else ""
        rows = [Row(plan.run_id, plan.dataset, plan.task.name, group.model, cell.evaluated_on.label,
                    m.cls, m.metric, m.value, group.seed, plan.cfg.task.protocol, ref,
                    m.higher_is_better) for m in metrics]
        results.append((cell.id, rows, evaluator.state()))  # state: bench/store.py
    return results, dict(cache.stats)

