"""What a trained task model is (its cache key) and how it is fitted, from a plan and a group.

Moved out of bench/plan.py (which re-exports them) so that resolving a task-driven SR backend
(bench/task_driven.py, called while backends are resolved) can compute the key of the task
model it learns from without importing the plan: `plan` and `group` are read by attribute
(plan: cfg, task (ResolvedTask), device, dataset_fingerprint, classes, threads; group: model,
seed, trained_on (a Variant, or anything with its `label`)).
"""
from __future__ import annotations

import json
from typing import Any

from bench.cache import key_of
from bench.errors import ConfigError
from bench.registry import did_you_mean


def task_model_key(plan: Any, group: Any, fit: Any, sr_fingerprint: str | None,
                   settings: dict[str, str] | None = None) -> str:
    """What determines a trained task model: model, fit settings (incl. device), the model's
    construction settings (TaskSpec.model_settings, e.g. two-stage's merge rule), the training
    data (train + val splits: an edited test split re-evaluates and never retrains), the
    variant it was trained on (with the degradation and the SR backend's fingerprint when
    not HR), the CPU thread count (results differ between 1 and 2 threads) and the model's
    code revision (TaskSpec.model_revisions; 0 adds nothing, so unchanged models keep the
    keys every cache already holds)."""
    trained_on = group.trained_on.label
    degradation = plan.cfg.degradation.fingerprint() if trained_on != "HR" else "-"
    # Only models with settings get the extra part: every other key stays as it was.
    extra = (json.dumps(settings, sort_keys=True),) if settings else ()
    revision = plan.task.model_revision(group.model)
    if revision:
        extra = (*extra, f"revision={revision}")
    data = plan.train_fingerprint or plan.dataset_fingerprint  # the training splits only
    return key_of(f"{plan.task.name}/{group.model}", fit, data, trained_on,
                  plan.classes, degradation, sr_fingerprint or "-", f"threads={plan.threads}",
                  *extra)


def fit_config(plan: Any, group: Any) -> Any:
    """The task's fit settings (a tasks.base.FitConfig) with the spec's and the config's
    per-model options applied (the ones that are construction settings: `model_settings`)."""
    t = plan.cfg.task
    settings = plan.task.model_settings(group.model)
    options = {**plan.task.model_options(group.model), **t.model_options.get(group.model, {})}
    base = dict(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, image_size=t.image_size,
                size=t.size)
    unknown = set(options) - set(base) - set(settings)
    if unknown:
        first = min(unknown)
        raise ConfigError(f"task.model_options.{group.model}: unknown key(s) "
                          f"{', '.join(sorted(unknown))};{did_you_mean(first, [*base, *settings])}"
                          f" expected {', '.join([*base, *settings])}")
    model_settings(plan, group)  # a bad value fails with the keys, at planning
    fit = {k: v for k, v in options.items() if k not in settings}
    return plan.task.fit_config(**{**base, **fit}, seed=group.seed, device=plan.device)


def model_settings(plan: Any, group: Any) -> dict[str, str]:
    """The model's construction settings (TaskSpec.model_settings): the config's
    `task.model_options.<model>` values, else each setting's default; checked one by one."""
    allowed = plan.task.model_settings(group.model)
    given = plan.cfg.task.model_options.get(group.model, {})
    for key, choices in allowed.items():
        if key in given and given[key] not in choices:
            raise ConfigError(f"task.model_options.{group.model}.{key}: {given[key]!r} is not "
                              f"one of {', '.join(choices)}.{did_you_mean(given[key], choices)}")
    return {key: given.get(key, choices[0]) for key, choices in allowed.items()}
