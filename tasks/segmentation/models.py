"""Segmentation models: FCN (torchvision) and DeepLabV3+ (segmentation-models-pytorch).

Both are trained from scratch (no weights can be downloaded here). Size presets
(`FitConfig.size`), each documented by `describe(size)` which the runner prints:

FCN
- full:  torchvision `fcn_resnet50(weights=None, weights_backbone=None, num_classes=K+1,
         aux_loss=False)`: ResNet-50, layer3/4 dilated (output stride 8), FCNHead(2048): torchvision's
         FCN (the paper names FCN, Table 3, but not its backbone; ResNet-50 is our choice).
- small: torchvision `FCN` over `IntermediateLayerGetter(resnet18(weights=None))` with layer4
         dilated (output stride 16) and `FCNHead(512, K+1)`. ResNet-18 cannot be built dilated
         by torchvision (BasicBlock), so layer4's stride-2 convs are set to stride 1 and its
         3x3 convs to dilation 2; output stride 32 would leave an 8x8 map at 256x256, too coarse
         for defects a few pixels wide.
- tiny:  as small over a ResNet-10 (one BasicBlock per stage) for tests.
DeepLabV3+
- full:  smp `DeepLabV3Plus(encoder_name="resnet50", encoder_weights=None, classes=K+1)`,
         otherwise smp defaults (output stride 16, decoder 256 ch, ASPP rates 12/24/36).
         smp's default encoder is resnet34; resnet50 is the common DeepLabV3+ setting, so "full"
         uses it (ours: the paper names DeepLabv3+, Table 4, but not its backbone).
- small: the same with encoder "resnet18" and decoder_channels=128 (CPU quick profile).
- tiny:  the same with timm encoder "tu-resnet10t" and decoder_channels=64 (tests).

All return full-resolution logits (B, K+1, H, W) for any H, W (inputs are padded to the
network's stride and the logits cropped back). Index 0 is background, k is classes[k-1].
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.datasets.base import Target
from tasks.base import FitConfig, ProgressFn, TaskModel, check_preset
from tasks.segmentation.metrics import SegmentationEvaluator
from tasks.segmentation.train import (MEAN, STD, LossConfig, PreparedSplit, class_weights,
                                      fit_loop, pixel_counts, predict_masks, resize_masks,
                                      segmentation_loss)

FORMAT_VERSION = 1




class FullResLogits(nn.Module):
    """Wraps a segmentation net: (B,3,H,W) -> (B,C,H,W) logits for any H, W."""

    def __init__(self, net: nn.Module, multiple: int):
        super().__init__()
        self.net, self.multiple = net, multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:  # smp asserts sizes divisible by the encoder stride
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        out = self.net(x)
        out = out["out"] if isinstance(out, dict) else out  # torchvision returns a dict
        return out[..., :h, :w]


def _dilate_last_stage(layer: nn.Module, dilation: int) -> None:
    """Turn a ResNet BasicBlock stage into a stride-1 dilated one (torchvision refuses to)."""
    for mod in layer.modules():
        if isinstance(mod, nn.Conv2d):
            if mod.stride == (2, 2):
                mod.stride = (1, 1)
            if mod.kernel_size == (3, 3):
                mod.dilation, mod.padding = (dilation, dilation), (dilation, dilation)


class SegmentationModel(TaskModel):
    """Shared fit/evaluate/save/load; subclasses only say how to build the network."""

    task = "segmentation"
    name = "base"
    _descriptions: dict[str, str] = {}

    def __init__(self, class_weighting: bool = True, dice: bool = True, device: str = "cpu",
                 eval_batch_size: int = 8):
        self.class_weighting, self.dice = class_weighting, dice
        self.device = device
        self.eval_batch_size = eval_batch_size
        self.net: nn.Module | None = None
        self.meta: dict[str, Any] = {}
        self.history: list[float] = []  # per-step training loss of the last fit

    # --- building -------------------------------------------------------------------------
    @classmethod
    def describe(cls, size: str) -> str:
        return cls._descriptions[check_preset(size)]

    @classmethod
    def build_network(cls, size: str, num_classes: int) -> nn.Module:
        """The wrapped network for `size` with num_classes outputs (K+1, background incl.)."""
        raise NotImplementedError

    # --- TaskModel ------------------------------------------------------------------------
    def fit(self, images: Sequence[np.ndarray], targets: Sequence[Target], classes: list[str],
            cfg: FitConfig, progress: ProgressFn | None = None) -> None:
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        num_classes = len(classes) + 1
        data = PreparedSplit(images, _Masks(targets), cfg.image_size)
        torch.manual_seed(cfg.seed)  # the initial weights (and dropout) depend on the seed only
        self.net = self.build_network(cfg.size, num_classes)
        self.device = cfg.device
        self.meta = {"model": self.name, "size": cfg.size, "num_classes": num_classes,
                     "classes": list(classes), "image_size": cfg.image_size, "seed": cfg.seed,
                     "class_weighting": self.class_weighting, "dice": self.dice,
                     "format_version": FORMAT_VERSION}
        self.history = fit_loop(self.net, data, epochs=cfg.epochs, batch_size=cfg.batch_size,
                                lr=cfg.lr, seed=cfg.seed, device=cfg.device,
                                num_classes=num_classes, progress=progress,
                                loss_cfg=LossConfig(self.class_weighting, self.dice))

    # --- task-driven SR (s2t, joint) -------------------------------------------------------
    has_task_loss = True

    def _loss_cfg(self) -> LossConfig:
        return LossConfig(bool(self.meta.get("class_weighting", self.class_weighting)),
                          bool(self.meta.get("dice", self.dice)))

    def finetune(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                 cfg: FitConfig, progress: ProgressFn | None = None) -> None:
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before finetune()")
        data = PreparedSplit(images, _Masks(targets), int(self.meta["image_size"]))
        self.history = fit_loop(self.net, data, epochs=cfg.epochs, batch_size=cfg.batch_size,
                                lr=cfg.lr, seed=cfg.seed, device=self.device,
                                num_classes=int(self.meta["num_classes"]), progress=progress,
                                loss_cfg=self._loss_cfg())

    def loss_fn(self, train_targets: Sequence[Target]):  # type: ignore[no-untyped-def]
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before loss_fn()")
        size, k = int(self.meta["image_size"]), int(self.meta["num_classes"])
        cfg = self._loss_cfg()
        weight = None
        if cfg.class_weighting:  # as fit_loop: pixel frequencies of the resized masks
            counts = torch.zeros(k, dtype=torch.float64)
            masks = _Masks(train_targets)
            for i in range(len(masks)):
                m = torch.from_numpy(masks[i])[None]
                counts += pixel_counts(resize_masks(m, (size, size)) if size > 0 else m, k)
            weight = class_weights(counts)
        mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)

        def loss(x: torch.Tensor, targets: Sequence[Target]) -> torch.Tensor:
            m = torch.stack([torch.from_numpy(mk) for mk in _Masks(targets)]).to(x.device)
            if size > 0 and tuple(x.shape[-2:]) != (size, size):
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                  align_corners=False)
                m = resize_masks(m, (size, size))
            x = (x - mean.to(x.device)) / std.to(x.device)
            w = weight.to(x.device) if weight is not None else None
            return segmentation_loss(self.net(x), m.long(), w, cfg)

        return loss

    def predict(self, images: Sequence[np.ndarray],
                out_sizes: Sequence[tuple[int, int]] | None = None) -> list[np.ndarray]:
        """uint8 (H,W) label maps, one per image, at out_sizes (default: each image's size)."""
        return list(self._predict_iter(images, out_sizes))

    def _predict_iter(self, images: Sequence[np.ndarray],
                      out_sizes: Sequence[tuple[int, int]] | None = None):  # type: ignore[no-untyped-def]
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before predicting")
        sizes = out_sizes if out_sizes is not None else [tuple(im.shape[:2]) for im in images]
        return predict_masks(self.net, images, sizes, image_size=self.meta["image_size"],
                             device=self.device, batch_size=self.eval_batch_size)

    def run_evaluator(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                      classes: list[str]) -> SegmentationEvaluator:
        """Per-class IoU from one confusion matrix over all images (see metrics.py)."""
        if self.net is not None and list(classes) != self.meta["classes"]:
            raise ValueError(f"{self.name} was trained on classes {self.meta['classes']}, "
                             f"asked to evaluate {list(classes)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        masks = _Masks(targets)
        sizes = [tuple(masks[i].shape[:2]) for i in range(len(masks))]  # read one at a time
        ev = SegmentationEvaluator(classes)
        for i, pred in enumerate(self._predict_iter(images, sizes)):
            ev.update([pred], [masks[i]], [str(i)])
        return ev

    def networks(self) -> dict[str, nn.Module]:
        return {"": self.net} if self.net is not None else {}

    def build_networks(self, meta: dict[str, Any]) -> dict[str, nn.Module]:
        return {"": self.build_network(meta["size"], int(meta["num_classes"]))}

    def set_networks(self, nets: dict[str, nn.Module], meta: dict[str, Any], device: str) -> None:
        self.meta, self.net, self.device = meta, nets[""], device

    # --- feature taps ---------------------------------------------------------------------
    feature_taps = "the backbone's last stage (SR4IR: C5)"

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[last backbone stage] of x (float (B,3,H,W) in [0,1]), ImageNet-normalised as in
        training, padded (replicate) to the network's stride like the logits."""
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before features()")
        mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        m = self.net.multiple
        ph, pw = (-x.shape[-2]) % m, (-x.shape[-1]) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return [self.last_stage(self.net.net, x)]

    @staticmethod
    def last_stage(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _Masks(Sequence):
    """The masks of a target sequence, read one at a time (checked on access)."""

    def __init__(self, targets: Sequence[Target]):
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):  # type: ignore[override]
        mask = self.targets[i].mask
        if mask is None:
            raise ValueError(f"target {i} has no segmentation mask")
        return np.asarray(mask, dtype=np.uint8)


class FCNModel(SegmentationModel):
    name = "fcn"
    _descriptions = {
        "full": "FCN-ResNet50 (torchvision fcn_resnet50, output stride 8, no aux head), from scratch",
        "small": "FCN head on ResNet-18 (torchvision, layer4 dilated: output stride 16), from scratch",
        "tiny": "FCN head on ResNet-10 (1 BasicBlock per stage, layer4 dilated: stride 16), from scratch",
    }

    @classmethod
    def build_network(cls, size: str, num_classes: int) -> nn.Module:
        from torchvision.models import resnet18, segmentation
        from torchvision.models._utils import IntermediateLayerGetter
        from torchvision.models.resnet import BasicBlock, ResNet
        from torchvision.models.segmentation.fcn import FCN, FCNHead

        if check_preset(size) == "full":
            net = segmentation.fcn_resnet50(weights=None, weights_backbone=None,
                                            num_classes=num_classes, aux_loss=False)
            return FullResLogits(net, 1)
        backbone = resnet18(weights=None) if size == "small" else ResNet(BasicBlock, [1, 1, 1, 1])
        _dilate_last_stage(backbone.layer4, 2)
        net = FCN(IntermediateLayerGetter(backbone, {"layer4": "out"}), FCNHead(512, num_classes))
        return FullResLogits(net, 1)

    @staticmethod
    def last_stage(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net.backbone(x)["out"]  # ResNet layer4 (dilated)


class DeepLabV3PlusModel(SegmentationModel):
    name = "deeplabv3plus"
    _descriptions = {
        "full": "DeepLabV3+ (smp), ResNet-50 encoder, output stride 16, decoder 256 ch, from scratch",
        "small": "DeepLabV3+ (smp), ResNet-18 encoder, output stride 16, decoder 128 ch, from scratch",
        "tiny": "DeepLabV3+ (smp), timm ResNet-10t encoder, output stride 16, decoder 64 ch, from scratch",
    }
    _encoders = {"full": ("resnet50", 256), "small": ("resnet18", 128), "tiny": ("tu-resnet10t", 64)}

    @classmethod
    def build_network(cls, size: str, num_classes: int) -> nn.Module:
        import segmentation_models_pytorch as smp

        encoder, channels = cls._encoders[check_preset(size)]
        net = smp.DeepLabV3Plus(encoder_name=encoder, encoder_weights=None, classes=num_classes,
                                decoder_channels=channels)
        return FullResLogits(net, 32)

    @staticmethod
    def last_stage(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net.encoder(x)[-1]  # the encoder's last stage (output stride 16)
