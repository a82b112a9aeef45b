"""What every detector shares: streaming evaluation through pycocotools, the size presets, and
a model directory of `model.safetensors` (weights) + `model.json` (everything to rebuild it).

A detector implements `build(meta)` (the torch module for its metadata), `fit`, and
`detect(images)` -> per image (boxes xyxy float pixels, scores, 1-based labels). Evaluation
runs `detect` batch by batch over a possibly lazy image sequence, so a split of any size is
scored in O(boxes) memory. The directory format is tasks.base's (save_model_dir).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from bench.datasets.base import Target
from tasks.base import TaskModel, check_preset
from tasks.detection.metrics import DetectionEvaluator

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

    def run_evaluator(self, images: Sequence[np.ndarray], targets: Sequence[Target],
                      classes: list[str]) -> DetectionEvaluator:
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before evaluating")
        if list(classes) != self.meta["classes"]:
            raise ValueError(f"{self.name} was trained on classes {self.meta['classes']}, "
                             f"asked to evaluate {list(classes)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        ev = DetectionEvaluator(classes)
        for start in range(0, len(images), self.eval_batch_size):
            idx = range(start, min(len(images), start + self.eval_batch_size))
            batch = [np.asarray(images[i]) for i in idx]
            truth = [(im.shape[:2], *target_boxes(targets[i], i)) for i, im in zip(idx, batch)]
            ev.update(self.detect(batch), truth, [str(i) for i in idx])
        return ev

    def networks(self) -> dict[str, nn.Module]:
        return {"": self.net} if self.net is not None else {}

    def build_networks(self, meta: dict[str, Any]) -> dict[str, nn.Module]:
        return {"": self.build(meta)}

    def set_networks(self, nets: dict[str, nn.Module], meta: dict[str, Any], device: str) -> None:
        self.meta, self.device, self.net = meta, device, nets[""]
