"""The task model of an SR column that has its own (task-driven protocols s2t and joint;
docs/task-driven.md). The plan gives such a column a group of its own: trained on that SR
variant, evaluated on it only; every other cell stays with the HR-trained model.

- s2t: the group's HR-trained task model (same model, seed and fit), fine-tuned for
  `sr.task_driven.finetune_epochs` on the SR outputs of the task's training images. Its key
  holds the HR model's key, the SR weights key and the SR outputs' fingerprint, so a new HR
  model or new SR weights never reuse a stale fine-tune.
- joint: the task model trained beside the SR weights (bench/training/joint.py); the SR
  training publishes it under `bench.task_driven.joint_task_key`, and the group loads it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from bench.cache import key_of
from bench.errors import BenchError
from bench.task_driven import joint_task_key, own_task_protocol
from bench.task_key import task_model_key
from bench.variants import HR


def protocol_of(group: Any) -> str | None:
    """s2t | joint when `group` trains its SR column's own task model, else None."""
    return own_task_protocol(group.trained_on.resolved) if group.trained_on.is_sr else None


def hr_group(group: Any) -> Any:
    return dataclasses.replace(group, trained_on=HR, cells=())


def group_task_key(plan: Any, group: Any, fit: Any, settings: dict, sr_fingerprint) -> str:
    """The cache key of `group`'s task model (bench.task_key.task_model_key, or the own
    model's key of an s2t / joint column)."""
    protocol = protocol_of(group)
    backend = group.trained_on.resolved if group.trained_on.is_sr else None
    if protocol == "joint":
        return joint_task_key(backend)
    key = task_model_key(plan, group, fit, sr_fingerprint, settings)
    if protocol != "s2t":
        return key
    hr_key = task_model_key(plan, hr_group(group), fit, None, settings)
    epochs = backend.task_driven.finetune_epochs
    return key_of(key, "s2t", f"hr={hr_key}", f"sr_weights={backend.weights_key}",
                  f"finetune_epochs={epochs}")


def fit_own(plan: Any, group: Any, model: Any, fit: Any, settings: dict, cache: Any,
            images_of: Callable, targets: Any, progress: Callable | None) -> None:
    """Give `model` (built, untrained) the weights of its own-model group: s2t fine-tunes
    the HR model (trained first when missing, under its lock, as the HR group would);
    joint's model comes from the SR training and is only loaded."""
    from bench.locks import key_lock
    from bench.training.task_log import TaskTrainLog

    protocol, backend = protocol_of(group), group.trained_on.resolved
    if protocol == "joint":
        raise BenchError(f"the task model trained jointly with {backend.name} is not in the "
                         f"cache although its SR weights are; retrain them: bench train-sr "
                         f"--backend {backend.name} --fresh")
    hr_key = task_model_key(plan, hr_group(group), fit, None, settings)
    hr_dir = cache.task_dir(hr_key)
    full = f"{plan.task.name}/{group.model}"
    with key_lock(cache.lock_path("task", hr_key), f"the {full} model (seed {group.seed}, HR)"):
        if _complete(hr_dir):
            model.load(hr_dir, device=plan.device)
            cache.count("task_hit")
        else:
            log = TaskTrainLog(hr_dir, f"{full} ({group.model} seed {group.seed} HR)")
            model.fit(images_of(HR), targets, plan.classes, fit,
                      progress=lambda s, t, x: log.step(s, t, x))
            log.close()
            cache.publish_dir(hr_dir, model.save, complete=_complete)
            cache.count("task_trained")
    tune = dataclasses.replace(fit, epochs=backend.task_driven.finetune_epochs)
    model.finetune(images_of(group.trained_on), targets, tune, progress=progress)


def _complete(directory) -> bool:  # type: ignore[no-untyped-def]
    return directory.is_dir() and all((directory / f).is_file()
                                      for f in ("model.json", "model.safetensors"))
