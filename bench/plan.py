"""`plan(cfg)`: everything a run will do, resolved up front, before any work starts.

A run is a set of *cells* (task model, seed, trained-on variant, evaluated-on variant); a
*group* is one fit and the evaluations that share it (train-on-hr: one group per model and
seed, evaluated on every variant; train-per-variant: one group per variant). Planning opens the
dataset once, computes its fingerprint once, resolves the reference policy and every SR
backend, and drops the cells the store already holds. The plan is plain data (picklable), so
an executor can ship each group to another process or machine (bench/executors.py), where
`bench.execute.run_group` computes it from the plan and the caches alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bench.backends import ResolvedBackend, ref_policy_for, resolve_backends, sr_context
from bench.cache import Cache, key_of
from bench.config import BenchConfig
from bench.store import ResultStore, cell_id


@dataclass(frozen=True)
class Cell:
    id: str
    model: str
    seed: int
    trained_on: str
    evaluated_on: str


@dataclass(frozen=True)
class Group:
    """One fit + the evaluations (cells still to do) that use it."""

    model: str
    seed: int
    trained_on: str
    cells: tuple[Cell, ...]

    @property
    def label(self) -> str:
        return f"{self.model} seed {self.seed} trained on {self.trained_on}"


@dataclass
class Plan:
    cfg: BenchConfig
    run_id: str
    task: str
    dataset: str
    dataset_fingerprint: str
    classes: list[str]
    policy: str
    sr_context: str
    device: str
    threads: int
    cache_root: str
    backends: dict[str, ResolvedBackend]
    variants: list[str]
    cells_total: int = 0
    done: list[Cell] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    train_fingerprint: str = ""  # the train + val splits' (bench.datasets.training_fingerprint)

    @property
    def todo(self) -> list[Cell]:
        return [c for g in self.groups for c in g.cells]

    def sr_to_train(self, cache: Cache) -> list[str]:
        """Learned backends that a group to do needs and that have no weights yet."""
        needed = {v[3:] for g in self.groups for v in
                  [g.trained_on, *(c.evaluated_on for c in g.cells)] if v.startswith("SR:")}
        return [n for n in self.backends if n in needed and not self.backends[n].has_weights(cache)]


def open_task_dataset(cfg: BenchConfig):
    from bench.datasets import open_dataset

    d = cfg.data
    return open_dataset(d.dataset, seed=d.seed, n_train=d.n_train, n_val=d.n_val,
                        n_test=d.n_test, data_root=d.data_root)


@dataclass
class Inputs:
    """What, besides the config, determines a run's numbers: the data's content (its
    fingerprint) and the numeric environment (device type, CPU threads). The run folder is
    keyed by it (bench/runner.py), so changed data or threads never reuse stored cells."""

    dataset: Any
    fingerprint: str
    device_type: str
    threads: int

    def identity(self) -> dict[str, Any]:
        return {"dataset_fingerprint": self.fingerprint, "device_type": self.device_type,
                "threads": self.threads}


def open_inputs(cfg: BenchConfig, device: str, threads: int) -> Inputs:
    """Open the task's dataset once, check it can serve the task, fingerprint it once."""
    from bench.errors import ConfigError, DataError
    from tasks import TASKS

    from bench.datasets import check_task_data

    dataset = open_task_dataset(cfg)
    check_task_data(dataset, TASKS.get(cfg.task.name).target, cfg.task.name, cfg.data.dataset)
    test = dataset.split("test")
    where = cfg.data.data_root or f"dataset {cfg.data.dataset!r}"
    if len(test) == 0:
        raise DataError(where, "the test split has no samples (nothing to evaluate)")
    target = TASKS.get(cfg.task.name).target
    if getattr(test[0].target, target) is None:
        raise ConfigError(f"--dataset {cfg.data.dataset}: its samples carry no {target} "
                          f"annotations, which the {cfg.task.name} task needs")
    _check_scale(dataset, test, cfg.degradation.scale)
    fingerprint = dataset.fingerprint()  # once per run: for folders it reads every file
    return Inputs(dataset, fingerprint, device.split(":")[0], threads)


def _check_scale(dataset: Any, test, scale: int) -> None:
    """Folder datasets (eager, with `source`): every test image must divide by the scale,
    named by its file; generated ones are built to fit."""
    source = getattr(dataset, "source", None)
    if source is None:
        return
    from bench.errors import DataError

    for sample in test:
        h, w = sample.hr.shape[:2]
        if sample.lr is None and (h % scale or w % scale):
            raise DataError(source("test", sample.id), f"image size {w}x{h} (WxH) is not "
                                                       f"divisible by the scale {scale}")


def make_plan(cfg: BenchConfig, store: ResultStore, device: str, threads: int,
              cache_root: str, inputs: Inputs | None = None) -> Plan:
    from bench.datasets import training_fingerprint

    task = cfg.task.name
    inputs = inputs or open_inputs(cfg, device, threads)
    dataset, fingerprint = inputs.dataset, inputs.fingerprint
    test = dataset.split("test")
    variants = ["HR", "LR"] + [f"SR:{b}" for b in cfg.sr.backends]
    backends = {b.name: b for b in resolve_backends(cfg.sr.backends, cfg)}
    policy = ref_policy_for(test, cfg)
    plan = Plan(cfg, store.run_id, task, dataset.name, fingerprint, list(dataset.classes),
                policy, sr_context(fingerprint, cfg, policy), device, threads, cache_root,
                backends, variants)
    plan.train_fingerprint = training_fingerprint(dataset)  # task models: not the test split
    done = store.done_cells()
    per_variant = cfg.task.protocol == "train-per-variant"
    for model in cfg.task.models:
        for seed in cfg.seeds:
            for trained_on in (variants if per_variant else ["HR"]):
                evaluated = [trained_on] if per_variant else variants
                cells = [Cell(cell_id(task, model, seed, trained_on, v), model, seed,
                              trained_on, v) for v in evaluated]
                plan.cells_total += len(cells)
                plan.done += [c for c in cells if c.id in done]
                todo = tuple(c for c in cells if c.id not in done)
                if todo:
                    plan.groups.append(Group(model, seed, trained_on, todo))
    return plan


def still_to_do(group: Group, store: ResultStore) -> Group | None:
    """`group` without the cells another process stored since planning (None: all stored)."""
    done = store.done_cells()
    todo = tuple(c for c in group.cells if c.id not in done)
    if not todo:
        return None
    return group if len(todo) == len(group.cells) else Group(group.model, group.seed,
                                                             group.trained_on, todo)


def task_model_key(plan: Plan, group: Group, fit: Any, sr_fingerprint: str | None,
                   settings: dict[str, str] | None = None) -> str:
    """What determines a trained task model: model, fit settings (incl. device), the model's
    construction settings (TaskSpec.model_settings, e.g. two-stage's merge rule), the training
    data (train + val splits: an edited test split re-evaluates and never retrains),
    the variant it was trained on (with the degradation and the SR backend's fingerprint when
    not HR) and the CPU thread count (results differ between 1 and 2 threads)."""
    trained_on = group.trained_on
    degradation = plan.cfg.degradation.fingerprint() if trained_on != "HR" else "-"
    # Only models with settings get the extra part: every other key stays as it was.
    extra = (json.dumps(settings, sort_keys=True),) if settings else ()
    data = plan.train_fingerprint or plan.dataset_fingerprint  # the training splits only
    return key_of(f"{plan.task}/{group.model}", fit, data, trained_on,
                  plan.classes, degradation, sr_fingerprint or "-", f"threads={plan.threads}",
                  *extra)


def describe(plan: Plan, cache: Cache) -> dict[str, Any]:
    """The plan as data for `bench run --dry-run [--json]`: cells, and what is cached."""
    from bench.execute import fit_config, group_state, model_settings

    groups = []
    for g in plan.groups:
        state = group_state(plan, g, cache)
        settings = model_settings(plan, g)
        groups.append({"model": g.model, "seed": g.seed, "trained_on": g.trained_on,
                       "task_model": state, "fit": vars(fit_config(plan, g)),
                       **({"settings": settings} if settings else {}),
                       "cells": [c.evaluated_on for c in g.cells]})
    return {
        "run": plan.run_id, "task": plan.task, "dataset": plan.dataset,
        "dataset_fingerprint": plan.dataset_fingerprint, "ref_policy": plan.policy,
        "cells_total": plan.cells_total, "cells_done": len(plan.done),
        "cells_todo": len(plan.todo),
        "todo": [vars(c) for c in plan.todo], "groups": groups,
        "sr_backends": {n: ("weights from " + str(b.weights_file) if b.weights_file else
                            "no weights needed" if not b.trained_by_harness else
                            "cached" if b.has_weights(cache) else "will be trained")
                        for n, b in plan.backends.items()},
        "sr_outputs": _sr_output_state(plan, cache),
    }


def _sr_output_state(plan: Plan, cache: Cache) -> dict[str, Any]:
    """Per SR variant a cell to do evaluates: outputs cached / to compute on the test split."""
    from bench.variants import VariantContext, sr_output_counts

    needed = sorted({c.evaluated_on for c in plan.todo if c.evaluated_on.startswith("SR:")})
    if not needed:
        return {}
    test = open_task_dataset(plan.cfg).split("test")
    ctx = VariantContext(plan.cfg, cache, plan.device, plan.policy, plan.sr_context,
                         plan.backends)
    out: dict[str, Any] = {}
    for v in needed:
        if not plan.backends[v[3:]].has_weights(cache):
            out[v] = {"cached": 0, "to_compute": len(test), "note": "backend not trained yet"}
            continue
        hits = sr_output_counts(test, v, ctx)
        out[v] = {"cached": hits, "to_compute": len(test) - hits}
    return out
