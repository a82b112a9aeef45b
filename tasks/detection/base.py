"""What every detector shares: streaming evaluation through pycocotools, the size presets, and
a model directory of `model.safetensors` (weights) + `model.json` (everything to rebuild it).

A detector implements `build(meta)` (the torch module for its metadata), `fit`, and
`detect(images)` -> per image (boxes xyxy float pixels, scores, 1-based labels). Evaluation
runs `detect` batch by batch over a possibly lazy image sequence, so a split of any size is
scored in O(boxes) memory. The directory format is tasks.base's (save_model_dir).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from bench.datasets.base import Target
from tasks.base import MetricRow, TaskModel, check_preset, read_model_dir, save_model_dir
from tasks.detection.metrics import DetectionAccumulator

Detections = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (N,4), scores (N,), labels (N,)




def target_boxes(t: Target, i: int) -> tuple[np.ndarray, np.ndarray]:
    if t.boxes is None or t.box_labels is None:
        raise ValueError(f"target {i} has no boxes (detection needs box annotations)")
    return np.asarray(t.boxes, np.float32).reshape(-1, 4), np.asarray(t.box_labels, np.int64)


class DetectionModel(TaskModel):
    task = "detection"
    name = "base"
    eval_batch_size = 8
    _descriptions: dict[str, str] = {}  # size preset -> the network it builds

    @classmethod
    def describe(cls, size: str) -> str:
        return cls._descriptions[check_preset(size)]

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.net: nn.Module | None = None
        self.meta: dict[str, Any] = {}

    def build(self, meta: dict[str, Any]) -> nn.Module:
        """The untrained network described by `meta` (same keys as saved in model.json)."""
        raise NotImplementedError

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        raise NotImplementedError

    def evaluate(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                 classes: list[str]) -> list[MetricRow]:
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before evaluating")
        if list(classes) != self.meta["classes"]:
            raise ValueError(f"{self.name} was trained on classes {self.meta['classes']}, "
                             f"asked to evaluate {list(classes)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        acc = DetectionAccumulator(len(classes))
        for start in range(0, len(images), self.eval_batch_size):
            idx = range(start, min(len(images), start + self.eval_batch_size))
            batch = [np.asarray(images[i]) for i in idx]
            for i, im, (boxes, scores, labels) in zip(idx, batch, self.detect(batch)):
                gt_boxes, gt_labels = target_boxes(targets[i], i)
                acc.add(im.shape[:2], gt_boxes, gt_labels, boxes, scores, labels)
        per_class = acc.per_class_ap()
        rows = []
        for metric, j in (("ap50", 0), ("ap", 1)):
            rows += [MetricRow(classes[k - 1], metric, v[j]) for k, v in sorted(per_class.items())]
            if per_class:
                rows.append(MetricRow("Mean", metric, float(np.mean([v[j] for v in per_class.values()]))))
        return rows

    def save(self, directory: Path) -> None:
        if self.net is None:
            raise RuntimeError(f"{self.name}: nothing to save, call fit() first")
        save_model_dir(directory, self.name, self.net.state_dict(), self.meta)

    def load(self, directory: Path, device: str = "cpu") -> None:
        state, meta = read_model_dir(directory, self.name)
        net = self.build(meta)
        net.load_state_dict(state, strict=True)
        self.meta, self.device = meta, device
        self.net = net.to(device).eval()
