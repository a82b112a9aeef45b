"""Classification models: InceptionV3 and ResNet-101 (timm) and a two-stage sewer classifier.

All from scratch (timm `pretrained=False`; nothing is downloaded), or initialised from a local
weights file passed as `init_weights=` (a .safetensors / torch state dict of the same network;
the classifier layer is re-initialised when its shape differs). Size presets
(`FitConfig.size`), printed by every run through `describe(size)`:

inception_v3 (default input 299x299, TaskSpec.model_options)
- full:  timm `inception_v3` (no aux head): the network the paper names (GoogleNet InceptionV3, Table 7).
- small: the same topology built from timm's own Inception blocks at 1/4 of every width
         (conv widths divided by 4: 2048 -> 512 features), for CPU runs.
- tiny:  the same at 1/8 width (tests, smoke).
resnet101 (input 224x224)
- full:  timm `resnet101` (Bottleneck [3, 4, 23, 3]): the network the paper names (ResNet101, Table 8).
- small: timm `ResNet(BasicBlock, [2, 2, 2, 2])` (ResNet-18 layout) at half width (32..256).
- tiny:  timm `ResNet(BasicBlock, [1, 1, 1, 1])` (ResNet-10 layout) at quarter width (16..128).
two-stage: tasks/classification/two_stage.py (stage networks built by BUILDERS here).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import numpy as np
import torch
from torch import nn

from bench.datasets.base import Target
from tasks.base import FitConfig, ProgressFn, TaskModel, check_preset
from tasks.classification.metrics import THRESHOLD, ClassificationEvaluator
from tasks.classification.train import LabelledImages, fit_loop, predict_scores

FORMAT_VERSION = 1
MIN_INCEPTION_SIZE = 75




def build_inception_v3(size: str, num_classes: int) -> nn.Module:
    import importlib

    import timm

    # By module path: `timm.models.inception_v3` as an attribute is the factory function.
    tinc = importlib.import_module("timm.models.inception_v3")

    if check_preset(size) == "full":
        return timm.create_model("inception_v3", pretrained=False, num_classes=num_classes)
    div = {"small": 4, "tiny": 8}[size]
    real = tinc.ConvNormAct

    def narrow(in_chs: int, out_chs: int, *args: Any, **kw: Any) -> nn.Module:
        # Every Inception width (32, 48, 80, 192, 288, 768, 1280, 2048, ...) divides by 8, so
        # the concatenations stay consistent; the RGB input (3 channels) is kept.
        return real(in_chs if in_chs == 3 else in_chs // div, out_chs // div, *args, **kw)

    with mock.patch.object(tinc, "ConvNormAct", narrow):  # only during construction
        net = tinc.InceptionV3(num_classes=num_classes)
    net.num_features = 2048 // div
    net.reset_classifier(num_classes)
    return net


def build_resnet(size: str, num_classes: int) -> nn.Module:
    import timm
    from timm.models.resnet import BasicBlock, ResNet

    if check_preset(size) == "full":
        return timm.create_model("resnet101", pretrained=False, num_classes=num_classes)
    layers, width = ((2, 2, 2, 2), 32) if size == "small" else ((1, 1, 1, 1), 16)
    return ResNet(BasicBlock, layers, num_classes=num_classes, stem_width=width,
                  channels=tuple(width * 2 ** k for k in range(4)))


BUILDERS = {"inception_v3": build_inception_v3, "resnet101": build_resnet}


def _load_init(net: nn.Module, path: Path) -> None:
    """Initialise `net` from a local weights file; a classifier of another shape is skipped."""
    from bench.errors import DataError

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(path, f"not a readable weights file ({exc})") from None
    own = net.state_dict()
    keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not keep:
        raise DataError(path, "no tensor matches the network's parameter names and shapes")
    net.load_state_dict(keep, strict=False)


class ClassificationModel(TaskModel):
    """One multi-label network (K sigmoid outputs); subclasses name the builder."""

    task = "classification"
    name = "base"
    _descriptions: ClassVar[dict[str, str]] = {}

    def __init__(self, device: str = "cpu", eval_batch_size: int = 16,
                 init_weights: Path | None = None):
        self.device, self.eval_batch_size = device, eval_batch_size
        self.init_weights = Path(init_weights) if init_weights else None
        self.nets: dict[str, nn.Module] = {}
        self.meta: dict[str, Any] = {}
        self.history: list[float] = []

    @classmethod
    def describe(cls, size: str) -> str:
        return cls._descriptions[check_preset(size)]

    def _networks(self, size: str, num_classes: int) -> dict[str, nn.Module]:
        return {"net": BUILDERS[self.name](size, num_classes)}

    def _labels(self, targets: Sequence[Target], k: int) -> np.ndarray:
        out = np.zeros((len(targets), k), np.uint8)
        for i in range(len(targets)):
            lab = targets[i].labels
            if lab is None or np.shape(lab) != (k,):
                raise ValueError(f"target {i}: expected a ({k},) label vector, got "
                                 f"{None if lab is None else np.shape(lab)}")
            out[i] = np.asarray(lab) != 0
        return out

    def fit(self, images: Sequence[np.ndarray], targets: Sequence[Target], classes: list[str],
            cfg: FitConfig, progress: ProgressFn | None = None) -> None:
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        labels = self._labels(targets, len(classes))
        self._check_input_size(cfg.image_size)
        torch.manual_seed(cfg.seed)  # initial weights depend on the seed only
        self.nets = self._networks(cfg.size, len(classes))
        if self.init_weights is not None:
            for net in self.nets.values():
                _load_init(net, self.init_weights)
        self.device = cfg.device
        self.meta = {"model": self.name, "size": cfg.size, "num_classes": len(classes),
                     "classes": list(classes), "image_size": cfg.image_size, "seed": cfg.seed,
                     "threshold": THRESHOLD, "format_version": FORMAT_VERSION,
                     **self._extra_meta(cfg.size)}
        self.history = self._fit(images, labels, cfg, progress)

    def _extra_meta(self, size: str) -> dict[str, Any]:
        return {}

    def _builders(self) -> list[str]:
        return [self.name]

    def _check_input_size(self, image_size: int) -> None:
        # InceptionV3's stem and reductions need >= 75 px (timm fails deep inside otherwise).
        if "inception_v3" in self._builders() and image_size < MIN_INCEPTION_SIZE:
            from bench.errors import ConfigError

            raise ConfigError(f"task.model_options.{self.name}.image_size: inception_v3 needs "
                              f">= {MIN_INCEPTION_SIZE} px input, got {image_size}")

    def _fit(self, images, labels, cfg, progress) -> list[float]:  # type: ignore[no-untyped-def]
        data = LabelledImages(images, labels, cfg.image_size)
        return fit_loop(self.nets["net"], data, epochs=cfg.epochs, batch_size=cfg.batch_size,
                        lr=cfg.lr, seed=cfg.seed, device=cfg.device, progress=progress)

    def predict_scores(self, images: Sequence[np.ndarray]):  # type: ignore[no-untyped-def]
        """Yield (B, K) class scores in [0, 1], batch by batch."""
        if not self.nets:
            raise RuntimeError(f"{self.name}: call fit() or load() before predicting")
        yield from predict_scores(self.nets["net"], images, image_size=self.meta["image_size"],
                                  device=self.device, batch_size=self.eval_batch_size)

    def run_evaluator(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                      classes: list[str]) -> ClassificationEvaluator:
        if self.nets and list(classes) != self.meta["classes"]:
            raise ValueError(f"{self.name} was trained on classes {self.meta['classes']}, "
                             f"asked to evaluate {list(classes)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        ev, i = ClassificationEvaluator(classes), 0
        for scores in self.predict_scores(images):
            batch = range(i, i + len(scores))
            ev.update(scores, self._labels([targets[j] for j in batch], len(classes)),
                      [str(j) for j in batch])
            i += len(scores)
        return ev

    def networks(self) -> dict[str, nn.Module]:
        return dict(self.nets)

    def build_networks(self, meta: dict[str, Any]) -> dict[str, nn.Module]:
        self._restore_meta(meta)
        return self._networks(meta["size"], int(meta["num_classes"]))

    def set_networks(self, nets: dict[str, nn.Module], meta: dict[str, Any], device: str) -> None:
        self.meta, self.nets, self.device = meta, nets, device

    def _restore_meta(self, meta: dict[str, Any]) -> None:
        pass

    # --- feature taps ---------------------------------------------------------------------
    feature_taps = "the network's last stage (timm forward_features; two-stage: both nets)"

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[last stage of each net] of x (float (B,3,H,W) in [0,1]), normalised as in
        training (Sewer-ML statistics), not resized (InceptionV3: enlarged to its 75 px
        minimum when smaller)."""
        import torch.nn.functional as F

        from tasks.classification.train import normalise

        if not self.nets:
            raise RuntimeError(f"{self.name}: call fit() or load() before features()")
        if "inception_v3" in self._builders() and min(x.shape[-2:]) < MIN_INCEPTION_SIZE:
            x = F.interpolate(x, size=(max(x.shape[-2], MIN_INCEPTION_SIZE),
                                       max(x.shape[-1], MIN_INCEPTION_SIZE)),
                              mode="bilinear", align_corners=False)
        x = normalise(x * 255.0)
        return [net.forward_features(x) for net in self.nets.values()]


class InceptionV3Model(ClassificationModel):
    name = "inception_v3"
    _descriptions: ClassVar[dict[str, str]] = {
        "full": "InceptionV3 (timm inception_v3, no aux head, 21.8M params), from scratch",
        "small": "InceptionV3 topology (timm blocks) at 1/4 width, from scratch",
        "tiny": "InceptionV3 topology (timm blocks) at 1/8 width, from scratch",
    }


class ResNet101Model(ClassificationModel):
    name = "resnet101"
    _descriptions: ClassVar[dict[str, str]] = {
        "full": "ResNet-101 (timm resnet101, 42.5M params), from scratch",
        "small": "ResNet-18 layout at half width (timm ResNet, 32..256 ch), from scratch",
        "tiny": "ResNet-10 layout at quarter width (timm ResNet, 16..128 ch), from scratch",
    }
