"""The task-model cache key: a model's code revision re-keys it, and only it."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from bench.cache import key_of
from bench.resolved_task import resolve_task
from bench.task_key import task_model_key
from tasks import TASKS, models_for


@pytest.mark.parametrize("task", TASKS.names())
def test_every_model_revision_names_a_model_of_its_task(task: str) -> None:
    spec = TASKS.get(task)
    for model, revision in spec.model_revisions.items():
        assert model in models_for(task), f"{task}: model_revisions names {model!r}"
        assert isinstance(revision, int) and revision >= 0


def _key(task: str, model: str, revisions: dict[str, int]) -> str:
    resolved = resolve_task(task, models_for(task))
    spec = dataclasses.replace(resolved.spec, model_revisions=revisions)
    plan = SimpleNamespace(
        task=dataclasses.replace(resolved, spec=spec), train_fingerprint="train-fp",
        dataset_fingerprint="data-fp", classes=["a", "b"], threads=2,
        cfg=SimpleNamespace(degradation=SimpleNamespace(fingerprint=lambda: "x4")))
    group = SimpleNamespace(model=model, trained_on=SimpleNamespace(label="HR"))
    return task_model_key(plan, group, {"epochs": 2, "seed": 0}, None)


@pytest.mark.parametrize("task", TASKS.names())
def test_a_model_revision_keys_that_model_only(task: str) -> None:
    """Bumping one model's revision gives it a new key; revision 0 keeps the key every cache
    already holds, and the task's other models keep theirs."""
    first, *others = models_for(task)
    today = _key(task, first, {})
    # the key as it was before revisions existed (same parts, nothing appended)
    assert today == key_of(f"{task}/{first}", {"epochs": 2, "seed": 0}, "train-fp", "HR",
                           ["a", "b"], "-", "-", "threads=2")
    assert _key(task, first, {first: 0}) == today
    bumped = {r: _key(task, first, {first: r}) for r in (1, 2)}
    assert len({today, *bumped.values()}) == 3
    for other in others:
        assert _key(task, other, {first: 1}) == _key(task, other, {})
