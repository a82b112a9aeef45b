"""`TaskSpec`: what the harness needs to know about a downstream task, torch-free.

One spec per task (`tasks/<task>/spec.py`, one line in `tasks.TASKS`). The harness reads it
for the default dataset and models (configs/tasks/<task>.yaml holds the tunable defaults),
which annotation the data must carry, the metrics the task adds to the catalogue, which of
them get Δ tables, and the summary rows printed after the classes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bench.metrics import MetricInfo


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    default_dataset: str
    # The annotation every sample of the task's data must carry (a `Target` field).
    target: Literal["mask", "boxes", "labels"]
    metrics: tuple[MetricInfo, ...]
    # One Δ table per (model, metric in table_metrics).
    table_metrics: tuple[str, ...]
    # Rows after the classes, in this order (e.g. "Mean", "background"); "Mean" is the row
    # the Δ tables put a rule above. A (label, metric) pair is a row stored under another
    # metric of the same direction and scale (classification: ("F2-CIW", "f2_ciw")).
    summary_rows: tuple[str | tuple[str, str], ...] = ("Mean",)
    # Summary rows shown only when a `task.*` setting has a value: label -> (setting, value),
    # e.g. classification's "Mean (15)" only with task.mean_classes=paper15. Stored always.
    row_options: dict[str, tuple[str, str]] = field(default_factory=dict)

    def shown_summary_rows(self, task_cfg: dict) -> tuple[str | tuple[str, str], ...]:
        """summary_rows without those whose `row_options` setting the run did not choose."""
        def shown(row) -> bool:
            label = row if isinstance(row, str) else row[0]
            key, value = self.row_options.get(label, (None, None))
            return key is None or task_cfg.get(key) == value

        return tuple(r for r in self.summary_rows if shown(r))
    # Per-model defaults of the fit settings (e.g. an input size of 299 for InceptionV3);
    # `task.model_options` in the config overrides them.
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per-model construction settings `task.model_options.<model>` may also set: key -> the
    # allowed values, the first being the default (e.g. two-stage's merge rule). The resolved
    # settings go to the model's constructor and into its cache key.
    model_settings: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    # Per-model code revision: bump a model's number when a code change alters what fitting
    # it produces at the same settings (its architecture, initialisation, loss, schedule or
    # the task's training loop). It enters the task-model cache key when > 0, so a model
    # trained by older code is never reused (the SR specs' `revision` does the same).
    model_revisions: dict[str, int] = field(default_factory=dict)

    def metric(self, name: str) -> MetricInfo:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)
