"""SSD (torchvision), trained from scratch: SSDlite320-MobileNetV3 (tiny, small), SSD300-VGG16 (full).

Recipe (REFERENCES.md section 2): SGD momentum 0.9; a linear warmup from lr/1000 over
min(500, total/5) iterations, then cosine to 0; gradient-norm clipping at 10 — SSD300-VGG
(no BatchNorm, L2-norm scale 20) diverges to NaN from scratch without warmup and clipping.
Augmentation: a seeded horizontal flip. Batches come from a DataLoader over the (lazy) images
in an order drawn from a generator seeded with the fit seed. Boxes of zero width or height are
dropped before training (torchvision's SSD raises on them); evaluation keeps all ground truth.
Detections: score_thresh 0.001, 100 per image, torchvision's NMS (0.55 SSDlite, 0.45 SSD300),
boxes in input-image pixels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.datasets.base import Target
from tasks.base import FitConfig, ProgressFn, check_preset
from tasks.detection.base import DetectionModel, Detections, target_boxes

CLIP_NORM = 10.0
WIDTH = {"tiny": 0.5, "small": 1.0}  # MobileNetV3 width multiplier of the SSDlite presets


class _Split(torch.utils.data.Dataset):
    """(float CHW image in [0,1], {boxes, labels}) read on access from lazy sequences."""

    def __init__(self, images: Sequence[np.ndarray], targets: Sequence[Target]):
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = torch.from_numpy(np.ascontiguousarray(self.images[i])).permute(2, 0, 1).float() / 255
        boxes, labels = target_boxes(self.targets[i], i)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return x, {"boxes": torch.from_numpy(boxes[keep]), "labels": torch.from_numpy(labels[keep])}


def _flip(x: torch.Tensor, t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    w = x.shape[-1]
    b = t["boxes"].clone()
    b[:, 0], b[:, 2] = w - t["boxes"][:, 2], w - t["boxes"][:, 0]
    return x.flip(-1), {"boxes": b, "labels": t["labels"]}


def _schedule(total: int):
    warm = max(1, min(500, total // 5))

    def f(step: int) -> float:
        if step < warm:
            return 1e-3 + (1 - 1e-3) * step / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
    return f


class SSDModel(DetectionModel):
    name = "ssd"
    _descriptions = {
        "full": "SSD300-VGG16 (torchvision ssd300_vgg16, from scratch; input 300x300)",
        "small": "SSDlite320-MobileNetV3-Large (torchvision, from scratch; input image_size)",
        "tiny": "SSDlite-MobileNetV3-Large x0.5 width (torchvision, from scratch; input image_size)",
    }

    def build(self, meta: dict[str, Any]) -> nn.Module:
        from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large

        nc = int(meta["num_classes"]) + 1  # + background (label 0)
        if meta["size"] == "full":
            net = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=nc)
        else:
            net = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=nc,
                                                width_mult=WIDTH[meta["size"]])
            s = int(meta["image_size"])  # SSDlite's heads are size-agnostic; SSD300's are not
            net.transform.min_size, net.transform.max_size, net.transform.fixed_size = (s,), s, (s, s)
        net.score_thresh, net.detections_per_img = 0.001, 100
        return net

    def fit(self, images: Sequence[np.ndarray], targets: Sequence[Target], classes: list[str],
            cfg: FitConfig, progress: ProgressFn | None = None) -> None:
        n = len(images)
        if n != len(targets):
            raise ValueError(f"{n} images but {len(targets)} targets")
        bs = min(cfg.batch_size, n)
        if bs < 2:
            raise ValueError("SSD training needs batch_size >= 2 and 2 images (BatchNorm)")
        self.meta = {"model": self.name, "size": check_preset(cfg.size), "classes": list(classes),
                     "num_classes": len(classes), "seed": cfg.seed,
                     "image_size": 300 if cfg.size == "full" else cfg.image_size}
        torch.manual_seed(cfg.seed)  # initial weights depend on the seed only
        net = self.build(self.meta).to(cfg.device).train()
        self.device = cfg.device
        steps = n // bs
        total = max(1, cfg.epochs * steps)
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9,
                              weight_decay=5e-4 if cfg.size == "full" else 4e-5)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total))
        gen = torch.Generator().manual_seed(cfg.seed)
        data, step = _Split(images, targets), 0
        for _ in range(cfg.epochs):
            order, flips = torch.randperm(n, generator=gen), torch.rand(n, generator=gen) < 0.5
            batches = [order[b * bs:(b + 1) * bs].tolist() for b in range(steps)]
            loader = torch.utils.data.DataLoader(data, batch_sampler=batches, num_workers=0,
                                                 collate_fn=list, generator=torch.Generator())
            for idx, batch in zip(batches, loader):
                pairs = [_flip(x, t) if flips[i] else (x, t) for i, (x, t) in zip(idx, batch)]
                xs = [x.to(cfg.device) for x, _ in pairs]
                ts = [{k: v.to(cfg.device) for k, v in t.items()} for _, t in pairs]
                loss = sum(net(xs, ts).values())
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"SSD loss is {loss.item()} at step {step}; lower lr")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, CLIP_NORM)
                opt.step()
                sched.step()
                step += 1
                if progress is not None:
                    progress(step, total, f"loss {loss.item():.3f}")
        self.net = net.eval()

    @torch.no_grad()
    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        xs = [torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).float().div(255).to(self.device)
              for im in images]
        out = self.net.eval()(xs)
        return [(o["boxes"].cpu().numpy(), o["scores"].cpu().numpy(), o["labels"].cpu().numpy())
                for o in out]

    # --- feature taps ---------------------------------------------------------------------
    feature_taps = "the backbone's first two feature maps (the inputs of the first two heads)"

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The first two backbone feature maps of x (float (B,3,H,W) in [0,1]) after SSD's
        own transform (normalisation and resize to its input size, both differentiable)."""
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before features()")
        images, _ = self.net.transform(list(x))
        return list(self.net.backbone(images.tensors).values())[:2]
