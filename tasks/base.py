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

    def evaluate(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                 classes: list[str]) -> list[MetricRow]:
        """Per-class metrics plus the task's summary rows; streams over `images`."""
        return self.run_evaluator(images, targets, classes).compute()

    def run_evaluator(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                      classes: list[str]) -> Evaluator:
        """Stream `images` through the model into the task's `Evaluator` and return it:
        `.compute()` gives the rows, `.state()` the per-image sufficient statistics.
        A model that only implements `evaluate()` gets its rows without a state (its tables
        then have no intervals)."""
        if type(self).evaluate is TaskModel.evaluate:
            raise NotImplementedError(f"{type(self).__name__} implements neither "
                                      "run_evaluator() nor evaluate()")
        return RowsOnly(self.evaluate(images, targets, classes))

    # --- one model directory format for every task model ---------------------------------
    # A model keeps its networks in `networks()`: {part: module}; part "" = one network whose
    # state dict is saved unprefixed, other parts prefix their keys with "<part>.".
    meta: dict
    device: str

    def networks(self) -> dict:
        raise NotImplementedError

    def build_networks(self, meta: dict) -> dict:
        """The untrained networks `meta` (model.json) describes, keyed as `networks()`."""
        raise NotImplementedError

    def set_networks(self, nets: dict, meta: dict, device: str) -> None:
        raise NotImplementedError

    # --- feature taps (task-driven SR, bench/training/task_driven.py) ----------------------
    # The activations a task-driven SR loss compares (SR4IR's layers or the nearest
    # equivalent); `feature_taps` names them ("" = this model has none).
    feature_taps: str = ""

    def features(self, x):  # type: ignore[no-untyped-def]
        """float (B, 3, H, W) in [0, 1] -> list of feature tensors, differentiable w.r.t. x.

        The model applies its own input normalisation. Freezing its weights (eval mode,
        requires_grad False; its networks are `networks().values()`) is the caller's business."""
        from bench.errors import ConfigError

        raise ConfigError(f"task model {self.task}/{self.name} has no feature taps "
                          "(features(x)); task-driven SR needs them")

    # --- training on batches the caller builds (task-driven SR: s2t and joint) -------------
    # `has_task_loss`: the model implements `finetune` and `loss_fn` (segmentation does).
    has_task_loss: bool = False

    def finetune(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                 cfg: FitConfig, progress: ProgressFn | None = None) -> None:
        """Continue training the fitted (or loaded) model on `images` with the fit's loss
        and schedule for cfg.epochs (s2t: the HR-trained model fine-tuned on SR outputs)."""
        from bench.errors import ConfigError

        raise ConfigError(f"task model {self.task}/{self.name} cannot be fine-tuned "
                          "(s2t and joint are implemented for segmentation only)")

    def loss_fn(self, train_targets: Sequence[Target]):  # type: ignore[no-untyped-def]
        """The task's own training loss as a function of one batch, loss(x, targets): x float
        (B, 3, H, W) in [0, 1] at the targets' size, differentiable w.r.t. the networks'
        weights (put them in train mode first). Statistics `fit` takes from the training
        split (segmentation: the class weights) come from `train_targets`, once."""
        from bench.errors import ConfigError

        raise ConfigError(f"task model {self.task}/{self.name} has no per-batch loss (s2t "
                          "and joint are implemented for segmentation only)")

    def save(self, directory: Path) -> None:
        """`directory/model.safetensors` (weights) + `directory/model.json` (metadata)."""
        nets = self.networks()
        if not nets:
            raise RuntimeError(f"{self.name}: nothing to save, call fit() first")
        state = {(f"{part}.{k}" if part else k): v for part, net in nets.items()
                 for k, v in net.state_dict().items()}
        save_model_dir(directory, self.name, state, self.meta)

    def load(self, directory: Path, device: str = "cpu") -> None:
        state, meta = read_model_dir(directory, self.name)
        nets = self.build_networks(meta)
        for part, net in nets.items():
            prefix = f"{part}." if part else ""
            own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)} \
                if prefix else state
            net.load_state_dict(own, strict=True)
            net.to(device).eval()
        self.set_networks(nets, meta, device)


class Evaluator(ABC):
    """One evaluation protocol for every task (torchmetrics' / detectron2's vocabulary):
    `reset()`, `update(predictions, targets, ids)` per batch, `compute()` -> MetricRows over
    everything seen. `state()` is the per-image sufficient statistics as numpy arrays (one
    entry per image, in update order, with the image ids): the store keeps it beside the
    rows, and the task's `Replay` (see `replay`) recomputes every row from it for any
    multiset of images (bootstrap intervals) without a model or an image."""

    task: str = ""

    def __init__(self, classes: Sequence[str]):
        self.classes = list(classes)
        self.reset()

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def update(self, predictions: Sequence, targets: Sequence,
               ids: Sequence[str] | None = None) -> None: ...

    @abstractmethod
    def compute(self) -> list[MetricRow]: ...

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]: ...

    def _ids(self, ids: Sequence[str] | None, n: int) -> list[str]:
        start = len(self.image_ids)
        return [str(i) for i in ids] if ids is not None else [str(start + j) for j in range(n)]

    image_ids: list[str]


class RowsOnly:
    """The rows of a model that computes them itself: no per-image state to store."""

    def __init__(self, rows: list[MetricRow]):
        self.rows = list(rows)

    def compute(self) -> list[MetricRow]:
        return list(self.rows)

    def state(self) -> None:
        return None


class Replay(ABC):
    """Rows recomputed from a stored state for resampled test sets. `keys[r]` = (class,
    metric) of column r; `values(weights)` takes a (B, N) matrix of how often each image is
    drawn (a row of ones = the whole test split) and returns (B, R) values, NaN where a row is
    undefined in that resample (e.g. a class with no ground truth). numpy only."""

    keys: list[tuple[str, str]]
    ids: list[str]

    @abstractmethod
    def values(self, weights: np.ndarray) -> np.ndarray: ...

    def instances(self) -> dict[str, int]:
        """Test instances per class (what is counted: `instance_unit`)."""
        return {}

    instance_unit: str = ""


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
