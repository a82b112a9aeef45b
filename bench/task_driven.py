"""Task-driven SR backends at the boundary: names, weights keys, and the task model they need.

Naming scheme (docs/task-driven.md): `BASE+td` is the task-driven variant of the learned
backend BASE with the protocol of `sr.task_driven.protocol`; `BASE+td-PROTOCOL` (frozen | s2t
| joint) names the protocol itself, so it is in every result row's variant label
(`SR:edsr+td-frozen`). Such a name resolves wherever backend names resolve (`bench run`,
`eval-sr`, `train-sr`, `export`), next to the plain BASE: `sr.backends: [edsr, edsr+td-frozen]`
gives two SR columns. `sr.train.objective: task-driven` makes every plain learned name
task-driven too (for `bench train-sr --backend edsr`).

A task-driven backend is BASE's resolution (same architecture, hparams, training settings and
SR training data) plus a `TaskDrivenTarget`; its weights key is BASE's key + the objective +
the task-driven settings + the task model's cache key (`bench.plan.task_model_key`, the key
`bench run` stores that model under, so the run reuses it). The task model is the one the
harness trains on HR for the task (`task.name`), model `sr.task_driven.model` (default: the
task's first model), seed `sr.task_driven.seed` (default: `seeds[0]`); when it is not trained
yet it is trained first (`ensure_task_model`), as distillation trains a missing teacher.
Nothing changes for a plain name with the pixel objective: its key stays what it was.

Protocols: `frozen` and `s2t` train the same SR network (s2t's weights are frozen's: same key,
same file, `weights_name`); `joint` alternates SR and task steps (bench/training/joint.py).
The SR columns of s2t and joint are scored by their own task model (bench/own_task.py);
`_check_protocol` refuses, in one line, what they are not implemented for.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bench.cache import key_of
from bench.config import BenchConfig
from bench.errors import ConfigError
from bench.registry import did_you_mean
from bench.training.td_config import PROTOCOLS, TaskDrivenTrainConfig

SUFFIX = "+td"
_NAME = re.compile(r"^(?P<base>.+?)\+td(?:-(?P<protocol>[^+]+))?$")


@dataclass(frozen=True)
class TaskDrivenTarget:
    """The task model a task-driven backend learns from, and how (docs/task-driven.md)."""

    task: str
    model: str
    seed: int
    settings: dict[str, str]
    fit: dict[str, Any]            # tasks.base.FitConfig fields (device included)
    key: str                       # the HR task model's cache key
    lambda_tdp: float
    warmup: int
    protocol: str
    classes: tuple[str, ...] = field(default=())
    data: dict[str, Any] = field(default_factory=dict)  # the task's open_dataset arguments
    finetune_epochs: int = 1       # s2t: epochs of fine-tuning on SR outputs
    has_task_loss: bool = False    # the model has TaskModel.loss_fn (joint's task step)

    @property
    def sr_protocol(self) -> str:
        """How the SR network is trained: s2t trains it as frozen does (only the task model
        that scores its column differs), so its weights are frozen's."""
        return "frozen" if self.protocol == "s2t" else self.protocol

    def identity(self) -> str:
        return (f"objective=task-driven|task={self.task}/{self.model}:{self.key}|"
                f"lambda_tdp={self.lambda_tdp}|warmup={self.warmup}|"
                f"protocol={self.sr_protocol}")

    def train_config(self, cache) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        """What `sr.train` adds for the trainer (`SRTrainConfig.objective/task_driven`)."""
        joint = {"fit": self.fit, "data": self.data, "classes": list(self.classes)} \
            if self.sr_protocol == "joint" else {}
        td = TaskDrivenTrainConfig(task=self.task, model=self.model, settings=self.settings,
                                   key=self.key, directory=str(cache.task_dir(self.key)),
                                   lambda_tdp=self.lambda_tdp, warmup=self.warmup,
                                   protocol=self.sr_protocol, **joint)
        return {"objective": "task-driven", "task_driven": td.model_dump()}


def joint_task_key(backend) -> str:  # type: ignore[no-untyped-def]
    """The cache key of the task model a `joint` training trains beside the SR weights."""
    return key_of(backend.weights_key, "joint-task-model")


OWN_TASK_MODEL = ("s2t", "joint")  # protocols whose SR column has its own task model


def own_task_protocol(backend) -> str | None:  # type: ignore[no-untyped-def]
    """s2t | joint when `backend`'s SR column is scored by its own task model, else None."""
    t = getattr(backend, "task_driven", None)
    return t.protocol if t is not None and t.protocol in OWN_TASK_MODEL else None


def parse_name(name: str) -> tuple[str, str | None] | None:
    """"edsr+td-joint" -> ("edsr", "joint"); "edsr+td" -> ("edsr", None); plain -> None."""
    m = _NAME.match(str(name))
    if m is None or ":" in str(name):  # "onnx:FILE" names a file, never a training
        return None
    protocol = m.group("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        known = ", ".join(f"{m.group('base')}{SUFFIX}-{p}" for p in PROTOCOLS)
        raise ConfigError(f"backend {name!r}: unknown task-driven protocol {protocol!r}."
                          f"{did_you_mean(protocol, PROTOCOLS, n=1)} Known: {known}")
    return m.group("base"), protocol


def wanted(names: Sequence[str], cfg: BenchConfig) -> bool:
    return cfg.sr.train.objective == "task-driven" or any(parse_name(n) for n in names)


def resolve(names: Sequence[str], cfg: BenchConfig, resolve_plain: Callable,
            random_weights: bool = False) -> list:
    """Resolve `names` where some are task-driven (see the module docstring).
    `random_weights` (`bench cost`, `bench perf`): the base architecture under the name, no
    weights and no task model looked up."""
    if len(set(names)) != len(names):
        raise ConfigError(f"backends listed twice: {', '.join(names)}")
    plain_cfg = cfg.model_copy(deep=True)
    plain_cfg.sr.train.objective = "pixel"
    parsed = {n: parse_name(n) for n in names}
    bases = list(dict.fromkeys(p[0] if p else n for n, p in parsed.items()))
    resolved = dict(zip(bases, resolve_plain(bases, plain_cfg, random_weights)))
    out, target = [], None
    for name, p in parsed.items():
        rb = resolved[p[0] if p else name]
        if p is None and not (cfg.sr.train.objective == "task-driven" and rb.spec.trainable):
            out.append(rb)
            continue
        if random_weights:
            out.append(dataclasses.replace(rb, name=name))
            continue
        _check_base(name, rb)
        protocol = (p[1] if p else None) or cfg.sr.task_driven.protocol
        target = target or task_target(cfg)
        t = dataclasses.replace(target, protocol=protocol)
        _check_protocol(name, rb, t, cfg)
        # s2t's SR weights are frozen's (same key, same file): listed together, trained once
        shared = f"{p[0] if p else name}{SUFFIX}-frozen" if protocol == "s2t" else None
        out.append(dataclasses.replace(rb, name=name, task_driven=t, weights_name=shared,
                                       weights_key=key_of(rb.weights_key, t.identity())))
    return out


def _check_protocol(name: str, rb: Any, t: TaskDrivenTarget, cfg: BenchConfig) -> None:
    base = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name
    if t.protocol in OWN_TASK_MODEL and not name.endswith(f"{SUFFIX}-{t.protocol}"):
        # the column is scored by its own task model: its label must say so in every row
        raise ConfigError(f"backend {name!r}: protocol {t.protocol} is named in the backend "
                          f"name, so every row records it: use {base}{SUFFIX}-{t.protocol}")
    if t.protocol in OWN_TASK_MODEL and cfg.task.protocol != "train-on-hr":
        raise ConfigError(f"backend {name!r}: protocol {t.protocol} fine-tunes the HR-trained "
                          "task model, so it needs task.protocol=train-on-hr (now "
                          f"{cfg.task.protocol})")
    if t.protocol in OWN_TASK_MODEL and not t.has_task_loss:
        raise ConfigError(f"backend {name!r}: {t.protocol} is implemented for segmentation "
                          f"only (the {t.task}/{t.model} model cannot be fine-tuned)")
    if t.protocol != "joint":
        return
    if rb.spec.needs_reference:
        raise ConfigError(f"backend {name!r}: joint is implemented for single-image SR "
                          "backends only "
                          f"({rb.name!r} takes a reference image)")
    if cfg.sr.train.world_size > 1:
        raise ConfigError(f"backend {name!r}: joint trains on one process "
                          f"(sr.train.world_size={cfg.sr.train.world_size})")


def _check_base(name: str, rb) -> None:  # type: ignore[no-untyped-def]
    if not rb.spec.trainable:
        raise ConfigError(f"backend {name!r}: {rb.name!r} has nothing to train, so it has no "
                          "task-driven variant (a learned backend has: `bench ls backends`)")
    if rb.spec.distill is not None:
        raise ConfigError(f"backend {name!r}: {rb.name!r} is trained by distillation; a "
                          "task-driven variant is defined for directly trained backends")
    if rb.weights_key is None:
        raise ConfigError(f"backend {name!r}: sr.weights.{rb.name} names a weights file, but "
                          "a task-driven backend is trained by the harness; remove that entry")


@dataclass(frozen=True)
class _TaskPlan:
    """What `bench.task_key` reads of a plan, for the HR task model (no plan imported)."""

    cfg: Any
    task: Any                      # ResolvedTask
    device: str
    dataset_fingerprint: str
    classes: list
    threads: int
    train_fingerprint: str = ""  # the train + val splits' (as bench.plan.make_plan sets it)


@dataclass(frozen=True)
class _HRGroup:
    model: str
    seed: int
    trained_on: Any = field(default_factory=lambda: _Label("HR"))


@dataclass(frozen=True)
class _Label:
    label: str


def _open_task_data(cfg: BenchConfig):  # type: ignore[no-untyped-def]
    """The task's dataset, opened as bench.plan.open_task_dataset opens it."""
    from bench.datasets import open_dataset

    d = cfg.data
    return open_dataset(d.dataset, seed=d.seed, n_train=d.n_train, n_val=d.n_val,
                        n_test=d.n_test, data_root=d.data_root)


def task_target(cfg: BenchConfig) -> TaskDrivenTarget:
    """The HR-trained task model of `sr.task_driven` (checked: task, model, feature taps)."""
    import torch

    from bench.commands.common import resolve_device
    from bench.resolved_task import resolve_task
    from bench.task_key import fit_config, model_settings, task_model_key

    td = cfg.sr.task_driven
    task = td.task or cfg.task.name
    if task != cfg.task.name:
        raise ConfigError(f"sr.task_driven.task={task}: the task model comes from the task "
                          f"config; set task.name={task} instead (now {cfg.task.name})")
    model = td.model or (cfg.task.models[0] if cfg.task.models else "")
    try:
        rtask = resolve_task(task, (model,))
    except ConfigError as exc:
        raise ConfigError(f"sr.task_driven.model={model}: {exc}") from None
    if not getattr(rtask.model_class(model), "feature_taps", ""):
        raise ConfigError(f"sr.task_driven.model={model}: the {task}/{model} model has no "
                          "feature taps (TaskModel.features), so it cannot drive SR training")
    dataset = _open_task_data(cfg)
    # the run's numeric environment (bench.runner.effective_threads: the same rule)
    threads = cfg.threads or torch.get_num_threads()
    from bench.datasets import training_fingerprint

    plan = _TaskPlan(cfg, rtask, resolve_device(cfg.device), dataset.fingerprint(),
                     list(dataset.classes), threads, training_fingerprint(dataset))
    group = _HRGroup(model, cfg.seeds[0] if td.seed is None else td.seed)
    fit, settings = fit_config(plan, group), model_settings(plan, group)
    d = cfg.data
    data = dict(name=d.dataset, seed=d.seed, n_train=d.n_train, n_val=d.n_val,
                n_test=d.n_test, data_root=str(d.data_root) if d.data_root else None)
    return TaskDrivenTarget(task, model, group.seed, settings, dict(vars(fit)),
                            task_model_key(plan, group, fit, None, settings),
                            td.lambda_tdp, td.warmup_steps(cfg.sr.train.iterations),
                            td.protocol, tuple(plan.classes), data,
                            td.finetune(cfg.task.epochs),
                            bool(getattr(rtask.model_class(model), "has_task_loss", False)))


def _complete(directory: Path) -> bool:
    return all((directory / f).is_file() for f in ("model.json", "model.safetensors"))


def ensure_task_model(t: TaskDrivenTarget, cfg: BenchConfig, cache, progress: bool = True
                      ) -> Path:  # type: ignore[no-untyped-def]
    """The task model's cache directory; trained on HR first when missing (and said so)."""
    from bench.console import log
    from bench.locks import key_lock

    directory = cache.task_dir(t.key)
    if _complete(directory):
        return directory
    full = f"{t.task}/{t.model}"
    log(f"task-driven SR needs the {full} model trained on HR (seed {t.seed}), which is not "
        f"trained yet: training it first ({t.fit['epochs']} epochs, cached: bench run reuses "
        "it)")
    with key_lock(cache.lock_path("task", t.key), f"the {full} model (seed {t.seed}, HR)"):
        if not _complete(directory):
            _fit_task_model(t, cfg, cache, directory)
    return directory


def _fit_task_model(t: TaskDrivenTarget, cfg: BenchConfig, cache, directory: Path) -> None:
    from bench.resolved_task import resolve_task

    train = _open_task_data(cfg).split("train")
    rtask = resolve_task(t.task, (t.model,))
    model = rtask.make_model(t.model, **t.settings)
    from bench.console import Heartbeat
    from bench.training.task_log import TaskTrainLog

    what = f"{t.task}/{t.model} (seed {t.seed}, HR)"
    train_log, beat = TaskTrainLog(directory, what), None

    def report(step: int, total: int, text: str) -> None:  # the log + a line with its ETA
        nonlocal beat
        train_log.step(step, total, text)
        beat = beat or Heartbeat(f"  train {t.model} (HR, for task-driven SR)", total)
        beat.update(step, text)

    model.fit([s.hr for s in train], [s.target for s in train], list(t.classes),
              rtask.fit_config(**t.fit), progress=report)
    train_log.close()
    cache.publish_dir(directory, model.save, complete=_complete)
