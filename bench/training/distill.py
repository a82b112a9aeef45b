"""Distillation inside the SR trainer: the objective that wraps a distilled backend's student
with its frozen teacher, and the part of a trained objective that is published as weights."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bench.errors import ConfigError

if TYPE_CHECKING:  # no torch import for the teacher check at the config boundary
    from torch import nn

    from bench.training.config import SRTrainConfig
    from sr_backends.base import ArchSpec


def published(model: nn.Module) -> nn.Module:
    """The weights a training publishes: the model itself, or the inference part of a
    training objective that carries extra trained parts (a distillation's attention heads)."""
    part = getattr(model, "inference_model", None)
    return part() if callable(part) else model


def check_teacher(name: str, teacher: str, registry) -> None:
    """A teacher that is the student itself (same name, or the same architecture and
    hyper-parameters) teaches nothing: refused with the reason, before any training."""
    spec, t_spec = registry.get(name), registry.get(teacher)
    student = spec.distill.student
    s_spec = registry.get(student) if student in registry else None
    same = teacher in (student, name) or (
        s_spec is not None and t_spec.arch == s_spec.arch and t_spec.hparams == s_spec.hparams)
    if same:
        raise ConfigError(f"sr.distill.teacher={teacher}: the teacher is the student "
                          f"{student!r} itself; distillation needs a larger trained teacher "
                          f"(default for {name}: {spec.distill.teacher})")


def distillation_objective(name: str, spec: ArchSpec, student: nn.Module,
                           cfg: SRTrainConfig) -> nn.Module:
    """The distilled backend's objective: `student` + the frozen teacher of `cfg.teacher`
    (loaded here, checked against its recorded sha256) + the spec's distillation losses."""
    if spec.distill is None:
        raise ConfigError(f"train-sr: backend {name!r} is not a distilled backend; "
                          "`distill` settings apply to one (e.g. dsrnet-d)")
    if cfg.distill is None or cfg.teacher is None:
        raise ConfigError(f"train-sr: backend {name!r} is trained by distillation from a "
                          f"teacher: use `bench distill --student {spec.distill.student}`")
    from bench.registry import load_target
    from sr_backends import BACKENDS
    from sr_backends.learned import LearnedBackend

    t = cfg.teacher
    teacher = LearnedBackend(t.backend, BACKENDS.get(t.backend), t.weights, hparams=t.hparams)
    if teacher.meta.get("sha256") != t.weights_sha256:
        raise ConfigError(f"distillation: teacher weights {t.weights} changed (sha256 "
                          f"{teacher.meta.get('sha256')}, expected {t.weights_sha256})")
    if teacher.spec.needs_reference != spec.needs_reference:
        raise ConfigError(f"distillation: teacher {t.backend!r} and student {name!r} must "
                          "both be reference-based or both not")
    build = load_target(spec.distill.objective)
    return build(student, teacher.model, cfg.distill.objective_settings())
