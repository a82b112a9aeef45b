"""The task, resolved once at the boundary: `resolve_task(cfg)` -> a frozen `ResolvedTask`.

A boundary module (it imports the `tasks` plug-ins; tests/test_layering.py names it). Planning
calls it first, so an unknown task or task-model name fails with one line, a did-you-mean and
exit 2 before any data is opened or any SR backend is trained. Below it (plan, execute,
executors, reports of a run) only the object flows: its spec, its validated model names, the
metrics it adds and the factory that builds a model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.errors import ConfigError
from bench.registry import did_you_mean, load_target


@dataclass(frozen=True)
class ResolvedTask:
    name: str
    spec: Any                                    # tasks.spec.TaskSpec (torch-free)
    models: tuple[str, ...]                      # validated task-model names, config order
    # model -> "module:attr" of its TaskModel class, imported when a model is built (so
    # resolving stays torch-free and the object pickles to other processes)
    model_targets: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """The annotation every sample must carry ("mask" | "boxes" | "labels")."""
        return self.spec.target

    @property
    def metrics(self) -> tuple:
        return tuple(self.spec.metrics)

    def model_class(self, model: str) -> Any:
        return load_target(self.model_targets[model])

    def make_model(self, model: str, **settings: Any) -> Any:
        """A fresh `TaskModel` of `model`, built with its construction settings."""
        return self.model_class(model)(**settings)

    def describe_model(self, model: str, size: str) -> str:
        return self.model_class(model).describe(size)

    def model_options(self, model: str) -> dict[str, Any]:
        return dict(self.spec.model_options.get(model, {}))

    def model_settings(self, model: str) -> dict[str, tuple[str, ...]]:
        return dict(self.spec.model_settings.get(model, {}))

    def model_revision(self, model: str) -> int:
        return int(self.spec.model_revisions.get(model, 0))

    def fit_config(self, **settings: Any) -> Any:
        """The task models' `FitConfig` (tasks/base.py) with `settings`."""
        from tasks.base import FitConfig

        return FitConfig(**settings)


def task_spec(name: str) -> Any:
    """The `TaskSpec` of a stored run's task (its manifest names it)."""
    from tasks import TASKS

    return TASKS.get(check_task_name(name))


def task_evaluator(name: str) -> Any:
    """The task's `Evaluator` class (tasks.EVALUATORS): its `replay(state, classes)` turns a
    stored evaluation state back into rows (bench table, bootstrap intervals)."""
    from tasks import EVALUATORS

    return EVALUATORS.get(check_task_name(name))


def check_task_name(name: object) -> str:
    """`name` if it is a registered task; else one line with a did-you-mean (exit 2)."""
    from tasks import TASKS

    if not isinstance(name, str) or name not in TASKS:
        raise ConfigError(f"unknown task {name!r}.{did_you_mean(str(name), TASKS.names())} "
                          f"Known: {', '.join(TASKS.names())}")
    return name


def resolve_task(name: str, models: list[str] | tuple[str, ...]) -> ResolvedTask:
    """Look the task and each of its models up once; unknown names fail here, in one line."""
    from tasks import TASK_MODELS, TASKS, models_for

    check_task_name(name)
    spec = TASKS.get(name)
    known = models_for(name)
    if not models:
        raise ConfigError(f"task.models is empty: name at least one {name} model "
                          f"({', '.join(known)}; `bench ls tasks`)")
    for m in models:
        if m not in known:  # the error lists this task's models, and names another's
            elsewhere = [n.split("/", 1)[0] for n in TASK_MODELS.names() if n.endswith(f"/{m}")]
            other = (f" ({m!r} is a {elsewhere[0]} model: add --task {elsewhere[0]})"
                     if elsewhere else "")
            full = [f"{name}/{k}" for k in known]
            raise ConfigError(f"unknown task model '{name}/{m}'.{did_you_mean(f'{name}/{m}', full)}"
                              f"{other} "
                              f"Known {name} models: {', '.join(known)}")
    if len(set(models)) != len(models):
        raise ConfigError(f"task.models lists a model twice: {', '.join(models)}")
    return ResolvedTask(name, spec, tuple(models),
                        {m: TASK_MODELS.target(f"{name}/{m}") for m in models})


def resolve_task_of(cfg: Any) -> ResolvedTask:
    """The config's task (`task.name`, `task.models`), resolved."""
    return resolve_task(cfg.task.name, list(cfg.task.models))
