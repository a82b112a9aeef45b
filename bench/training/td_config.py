"""Task-driven SR settings (torch-free): `sr.task_driven` of the harness config and what the
trainer receives (`TaskDrivenTrainConfig`, filled in by the harness). See
bench/training/task_driven.py for the loss and docs/task-driven.md for the protocol."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from bench.registry import did_you_mean

OBJECTIVES = ("pixel", "task-driven")
PROTOCOLS = ("frozen", "s2t", "joint")


def check_choice(value: Any, choices: tuple[str, ...], what: str) -> Any:
    """A pydantic validator body: one of `choices`, else a message with a did-you-mean."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, got {value!r}."
                         f"{did_you_mean(str(value), choices, n=1)}")
    return value


class TaskDrivenSettings(BaseModel):
    """`sr.task_driven`: which frozen task model a task-driven SR backend learns from and how.

    loss = L1(SR, HR) + lambda_tdp · TDP, TDP switched on after `warmup` optimizer steps."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: str | None = Field(None, description="task whose model drives SR; null = the run's "
                                               "task.name")
    model: str | None = Field(None, description="task model; null = the task's first model "
                                                "(task.models)")
    seed: int | None = Field(None, description="seed of that task model; null = seeds[0]")
    lambda_tdp: float = Field(1.0, ge=0, description="weight of the task-driven perceptual loss")
    warmup: int | None = Field(None, ge=0, description="optimizer steps before TDP switches "
                                                       "on; null = 10% of sr.train.iterations "
                                                       "(SR4IR: 10 of 100 epochs)")
    protocol: str = Field("frozen", description="frozen (task model frozen) | s2t | joint")
    finetune_epochs: int | None = Field(None, ge=1, description="s2t: epochs of fine-tuning "
                                        "the HR task model on SR outputs; null = "
                                        "max(1, task.epochs // 4)")

    _protocol = field_validator("protocol")(
        lambda v: check_choice(v, PROTOCOLS, "sr.task_driven.protocol"))

    def warmup_steps(self, iterations: int) -> int:
        return iterations // 10 if self.warmup is None else self.warmup

    def finetune(self, task_epochs: int) -> int:
        return max(1, task_epochs // 4) if self.finetune_epochs is None else self.finetune_epochs


class TaskDrivenTrainConfig(BaseModel):
    """What the SR trainer needs to build a task-driven objective (filled by the harness)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: str
    model: str
    settings: dict[str, Any] = Field(default_factory=dict, description="construction settings")
    key: str = Field(..., description="the task model's cache key (what it is)")
    directory: str = Field(..., description="its cache directory (where it is)")
    lambda_tdp: float = Field(1.0, ge=0)
    warmup: int = Field(0, ge=0)
    protocol: str = "frozen"
    # joint only (the task step trains on the task's data: bench/training/joint.py)
    fit: dict[str, Any] = Field(default_factory=dict, description="the task model's fit "
                                "settings (tasks.base.FitConfig fields: batch_size, lr, seed)")
    data: dict[str, Any] = Field(default_factory=dict, description="the task's dataset "
                                 "(bench.datasets.open_dataset arguments)")
    classes: list[str] = Field(default_factory=list, description="the task's classes")

    _protocol = field_validator("protocol")(
        lambda v: check_choice(v, PROTOCOLS, "task_driven.protocol"))

    @model_serializer(mode="wrap")
    def _without_empty_joint_fields(self, handler):  # type: ignore[no-untyped-def]
        # frozen's dump stays what it was, so its last.pt checkpoints still resume
        out = handler(self)
        return {k: v for k, v in out.items() if v or k not in _JOINT_FIELDS}


_JOINT_FIELDS = ("fit", "data", "classes")
