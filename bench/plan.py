"""`plan(cfg)`: everything a run will do, resolved up front, before any work starts.

A run is a set of *cells* (task model, seed, trained-on variant, evaluated-on variant); a
*group* is one fit and the evaluations that share it (train-on-hr: one group per model and
seed, evaluated on every variant; train-per-variant: one group per variant). Planning opens the
dataset once, computes its fingerprint once, resolves the reference policy and every SR
backend, and drops the cells the store already holds. The plan is plain data (picklable), so
an executor can ship each group to another process or machine (bench/executors.py), where
`bench.execute.run_group` computes it from the plan and the caches alone.

The task arrives resolved (`bench.resolved_task.ResolvedTask`): the plan holds the object, and
nothing below it looks a task or model name up again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.backends import ResolvedBackend, ref_policy_for, resolve_backends, sr_context
from bench.cache import Cache
from bench.config import BenchConfig
from bench.errors import ConfigError
from bench.resolved_task import ResolvedTask
from bench.store import ResultStore, cell_id
from bench.task_driven import own_task_protocol
from bench.variants import HR, LR, Variant
# The task model's identity, defined below the backends (task-driven SR resolves it there):
from bench.task_key import fit_config, model_settings, task_model_key  # noqa: F401 (re-export)


@dataclass(frozen=True)
class Cell:
    id: str
    model: str
    seed: int
    trained_on: Variant
    evaluated_on: Variant


@dataclass(frozen=True)
class Group:
    """One fit + the evaluations (cells still to do) that use it."""

    model: str
    seed: int
    trained_on: Variant
    cells: tuple[Cell, ...]

    @property
    def label(self) -> str:
        return f"{self.model} seed {self.seed} trained on {self.trained_on}"


@dataclass
class Plan:
    cfg: BenchConfig
    run_id: str
    task: ResolvedTask
    dataset: str
    dataset_fingerprint: str
    classes: list[str]
    policy: str
    sr_context: str
    device: str
    threads: int
    cache_root: str
    backends: dict[str, ResolvedBackend]
    variants: list[Variant]
    cells_total: int = 0
    done: list[Cell] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    train_fingerprint: str = ""  # the train + val splits' (bench.datasets.training_fingerprint)

    @property
    def todo(self) -> list[Cell]:
        return [c for g in self.groups for c in g.cells]

    def sr_to_train(self, cache: Cache) -> list[str]:
        """Learned backends that a group to do needs and that have no weights yet."""
        needed = {v.backend for g in self.groups for v in
                  [g.trained_on, *(c.evaluated_on for c in g.cells)] if v.is_sr}
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


def open_inputs(cfg: BenchConfig, task: ResolvedTask, device: str, threads: int) -> Inputs:
    """Open the task's dataset once, check it can serve the task, fingerprint it once."""
    from bench.datasets import check_task_data
    from bench.errors import DataError

    dataset = open_task_dataset(cfg)
    check_task_data(dataset, task.target, task.name, cfg.data.dataset)
    test = dataset.split("test")
    where = cfg.data.data_root or f"dataset {cfg.data.dataset!r}"
    if len(test) == 0:
        raise DataError(where, "the test split has no samples (nothing to evaluate)")
    target = task.target
    if getattr(test[0].target, target) is None:
        raise ConfigError(f"--dataset {cfg.data.dataset}: its samples carry no {target} "
                          f"annotations, which the {task.name} task needs")
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


def make_plan(cfg: BenchConfig, task: ResolvedTask, store: ResultStore, device: str,
              threads: int, cache_root: str, inputs: Inputs | None = None) -> Plan:
    """Every cell of the run, the stored ones marked done; each group's fit settings are
    checked here, so a typo in `task.model_options` fails before any work."""
    from bench.datasets import training_fingerprint

    inputs = inputs or open_inputs(cfg, task, device, threads)
    dataset, fingerprint = inputs.dataset, inputs.fingerprint
    test = dataset.split("test")
    backends = {b.name: b for b in resolve_backends(cfg.sr.backends, cfg)}
    variants = [HR, LR] + [Variant.sr(b) for b in backends.values()]
    policy = ref_policy_for(test, cfg)
    plan = Plan(cfg, store.run_id, task, dataset.name, fingerprint, list(dataset.classes),
                policy, sr_context(fingerprint, cfg, policy), device, threads, cache_root,
                backends, variants)
    plan.train_fingerprint = training_fingerprint(dataset)  # task models: not the test split
    done = store.done_cells()
    per_variant = cfg.task.protocol == "train-per-variant"
    # s2t / joint SR columns are scored by their own task model: a group of their own each
    own = [v for v in variants if own_task_protocol(v.resolved)]
    shared = [v for v in variants if v not in own]
    for v in own:
        t = v.resolved.task_driven
        # joint trains one task model, so its column has one seed: beside other seeds its
        # mean, spread and ΔHR would mix replicates (the tables pair columns by seed)
        if t.protocol == "joint" and (t.model not in task.models or cfg.seeds != [t.seed]):
            raise ConfigError(f"backend {v.backend!r}: joint trains one task model ({t.model}, "
                              f"seed {t.seed}), so the run must evaluate that model with that "
                              f"one seed (now models {', '.join(task.models)}, seeds "
                              f"{cfg.seeds}): --set 'seeds=[{t.seed}]'")
    for model in task.models:
        for seed in cfg.seeds:
            for trained_on in (variants if per_variant else [HR]):
                _add_group(plan, done, model, seed, trained_on,
                           [trained_on] if per_variant else shared)
            for v in own:
                if _has_own_model(v, model, seed):
                    _add_group(plan, done, model, seed, v, [v])
    for group in plan.groups:  # per-model fit options: a typo fails here, not mid-run
        fit_config(plan, group)
    return plan


def _add_group(plan: Plan, done: set, model: str, seed: int, trained_on: Variant,
               evaluated: list[Variant]) -> None:
    cells = [Cell(cell_id(plan.task.name, model, seed, trained_on.label, v.label), model, seed,
                  trained_on, v) for v in evaluated]
    plan.cells_total += len(cells)
    plan.done += [c for c in cells if c.id in done]
    todo = tuple(c for c in cells if c.id not in done)
    if todo:
        plan.groups.append(Group(model, seed, trained_on, todo))


def _has_own_model(v: Variant, model: str, seed: int) -> bool:
    """s2t fine-tunes every (model, seed)'s HR model; joint trains one task model, the one
    its SR training alternates with (sr.task_driven.model / seed), so only that cell exists."""
    t = v.resolved.task_driven
    return t.protocol == "s2t" or (t.model, t.seed) == (model, seed)


def still_to_do(group: Group, store: ResultStore) -> Group | None:
    """`group` without the cells another process stored since planning (None: all stored)."""
    done = store.done_cells()
    todo = tuple(c for c in group.cells if c.id not in done)
    if not todo:
        return None
    return group if len(todo) == len(group.cells) else Group(group.model, group.seed,
                                                             group.trained_on, todo)
