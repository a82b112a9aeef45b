"""The task interface: fit on a training split, evaluate images -> per-class metrics.

A `TaskModel` is built from (num_classes, size preset, seed) and is independent of SR: the
runner hands it uint8 HxWx3 images (HR, LR-upsampled or SR outputs) and targets.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from bench.datasets.base import Target


@dataclass(frozen=True)
class MetricRow:
    """One per-class result: class name ('Mean' for the mean, 'background' kept separate)."""

    cls: str
    metric: str
    value: float
    higher_is_better: bool = True


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    batch_size: int
    lr: float
    image_size: int
    size: str  # model size preset: "tiny" | "small" | "full"
    seed: int
    device: str = "cpu"


ProgressFn = Callable[[int, int, str], None]

# Model size presets every task model offers (config `task.size`): tiny (smoke tests), small
# (the quick CPU profile), full (the networks the paper names at their usual size; the
# paper does not state backbones or variants for FCN, DeepLabv3+ and SSD: ours).
PRESETS = ("tiny", "small", "full")


def check_preset(size: str) -> str:
    if size not in PRESETS:
        from bench.registry import did_you_mean

        raise ValueError(f"unknown size preset {size!r}.{did_you_mean(size, PRESETS, n=1)} "
                         f"Known: {', '.join(PRESETS)}")
    return size


class TaskModel(ABC):
    """A downstream model. It owns a directory: `save(directory)` writes everything needed to
    rebuild it there, `load(directory, device)` restores it onto a device. The harness
    publishes that directory atomically (bench/cache.py), so a model never sees a half-written
    one."""

    task: str
    name: str

    @classmethod
    @abstractmethod
    def describe(cls, size: str) -> str:
        """One line: the network this size preset builds (printed by every run)."""

    @abstractmethod
    def fit(self, images: Sequence[np.ndarray], targets: Sequence[Target], classes: list[str],
            cfg: FitConfig, progress: ProgressFn | None = None) -> None:
        """Train from scratch on uint8 (H,W,3) images. `images` may be a lazy sequence: read
        batches from it, never all of it at once."""

    @abstractmethod
    def evaluate(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                 classes: list[str]) -> list[MetricRow]:
        """Per-class metrics plus the task's summary rows; streams over `images`."""

    @abstractmethod
    def save(self, directory: Path) -> None: ...

    @abstractmethod
    def load(self, directory: Path, device: str = "cpu") -> None: ...

    # --- feature taps (task-driven SR, bench/training/task_driven.py) ----------------------
    # The activations a task-driven SR loss compares (SR4IR's layers or the nearest
    # equivalent); `feature_taps` names them ("" = this model has none).
    feature_taps: str = ""

    def features(self, x):  # type: ignore[no-untyped-def]
        """float (B, 3, H, W) in [0, 1] -> list of feature tensors, differentiable w.r.t. x.

        The model applies its own input normalisation. Freezing its weights (eval mode,
        requires_grad False) is the caller's business."""
        from bench.errors import ConfigError

        raise ConfigError(f"task model {self.task}/{self.name} has no feature taps "
                          "(features(x)); task-driven SR needs them")

    def networks(self) -> list:  # type: ignore[type-arg]
        """The model's torch networks (what a caller freezes), in a fixed order."""
        net = getattr(self, "net", None)
        return [net] if net is not None else list(getattr(self, "nets", {}).values())


# A task model's directory: `model.safetensors` (the state dict, float tensors on the CPU) and
# `model.json` (everything needed to rebuild the network). Every task model uses these two.
WEIGHTS, META = "model.safetensors", "model.json"


def save_model_dir(directory: Path, name: str, state: dict, meta: dict) -> None:
    """Write `state` (name -> tensor) and `meta` into `directory`, each file atomically (the
    cache publishes the directory as a whole, bench/cache.py)."""
    import json

    from safetensors.torch import save_file

    from bench import atomic

    directory = Path(directory)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic.atomic_path(directory / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"model": name})
    atomic.write_text(directory / META, json.dumps(meta, indent=2, sort_keys=True))


def read_model_dir(directory: Path, name: str) -> tuple[dict, dict]:
    """(state dict, meta) of a directory written by `save_model_dir` for model `name`;
    ValueError when it holds another model."""
    import json

    from safetensors.torch import load_file

    directory = Path(directory)
    meta = json.loads((directory / META).read_text())
    if meta.get("model") != name:
        raise ValueError(f"{directory} holds a {meta.get('model')!r} checkpoint, not {name!r}")
    return load_file(str(directory / WEIGHTS)), meta
