"""The two-stage sewer classifier: Xie et al. 2019's IDCNN & NDCNN analogue, as
benchmarked by Sewer-ML.

- stage 1: binary defect-vs-normal network (1 logit), trained on every training image;
- stage 2: multi-label network over the classes, trained on the defective images only;
- merge (`merge=`): "replace" (Sewer-ML's rule, default): where P(defect) < 0.5 every class
  score becomes P(defect) (so nothing is predicted, the image is normal), else the stage-2
  scores; "multiply": class score = P(defect) x stage-2 score.
- stage networks: by default resnet101 at the run's preset for both; any other network per
  stage as "NAME" (the run's preset) or "NAME:PRESET", NAME in STAGE_NETS, from the config
  (`task.model_options.two-stage: {merge: multiply, stage1: resnet101, stage2:
  inception_v3:small}`, validated by the harness against TaskSpec.model_settings and part of
  the cached model's key) or from Python: TwoStageModel(stage1=("resnet101", "small"), ...).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from torch import nn

from bench.registry import did_you_mean
from tasks.base import check_preset
from tasks.classification.metrics import THRESHOLD
from tasks.classification.models import BUILDERS, ClassificationModel
from tasks.classification.spec import MERGES, STAGE_NETS
from tasks.classification.train import (
    LabelledImages,
    fit_loop,
    predict_scores,
    steps_of,
)


def merge_scores(p_defect: np.ndarray, class_scores: np.ndarray, rule: str = "replace") -> np.ndarray:
    """Two-stage merge. p_defect (N,), class_scores (N, K) -> (N, K) final scores."""
    p = np.asarray(p_defect, np.float64)[:, None]
    s = np.asarray(class_scores, np.float64)
    if rule == "replace":
        return np.where(p < THRESHOLD, np.broadcast_to(p, s.shape), s)
    if rule == "multiply":
        return p * s
    raise ValueError(f"unknown merge rule {rule!r}.{did_you_mean(rule, MERGES, n=1)} "
                     f"Known: {', '.join(MERGES)}")


def _stage(spec: str | tuple[str, str | None] | None) -> tuple[str, str | None] | None:
    """A stage network: None (default), ("NAME", PRESET), "NAME" or "NAME:PRESET"; a None /
    missing preset means the run's."""
    if spec is None:
        return None
    name, preset = (spec.partition(":")[::2] if isinstance(spec, str) else spec)
    if name not in STAGE_NETS:
        raise ValueError(f"unknown stage network {name!r}.{did_you_mean(name, STAGE_NETS, n=1)} "
                         f"Known: {', '.join(STAGE_NETS)}")
    return name, (check_preset(preset) if preset else None)


class TwoStageModel(ClassificationModel):
    name = "two-stage"
    _descriptions: ClassVar[dict[str, str]] = {
        "full": "ResNet-101 defect/normal -> ResNet-101 multi-label on defects",
        "small": "ResNet-18-layout half-width defect/normal -> same multi-label on defects",
        "tiny": "ResNet-10-layout quarter-width defect/normal -> same multi-label on defects",
    }

    def __init__(self, merge: str = "replace", stage1: str | tuple[str, str] | None = None,
                 stage2: str | tuple[str, str] | None = None, **kw: Any):
        super().__init__(**kw)
        merge_scores(np.zeros(1), np.zeros((1, 1)), merge)  # validate the rule now
        self.merge, self.stage1, self.stage2 = merge, _stage(stage1), _stage(stage2)

    @classmethod
    def describe(cls, size: str) -> str:
        return (f"{cls._descriptions[check_preset(size)]} (timm, from scratch), merge "
                "'replace': the defaults of task.model_options.two-stage merge/stage1/stage2")

    def _stages(self, size: str) -> tuple[tuple[str, str], tuple[str, str]]:
        s1, s2 = self.stage1 or ("resnet101", None), self.stage2 or ("resnet101", None)
        return (s1[0], s1[1] or size), (s2[0], s2[1] or size)

    def _networks(self, size: str, num_classes: int) -> dict[str, nn.Module]:
        (a, sa), (b, sb) = self._stages(size)
        return {"stage1": BUILDERS[a](sa, 1), "stage2": BUILDERS[b](sb, num_classes)}

    def _builders(self) -> list[str]:
        return [s[0] for s in self._stages("tiny")]

    def _extra_meta(self, size: str) -> dict[str, Any]:
        s1, s2 = self._stages(size)
        return {"merge": self.merge, "stage1": list(s1), "stage2": list(s2)}

    def _restore_meta(self, meta: dict[str, Any]) -> None:
        self.merge = meta["merge"]
        self.stage1, self.stage2 = tuple(meta["stage1"]), tuple(meta["stage2"])

    def _fit(self, images, labels, cfg, progress) -> list[float]:  # type: ignore[no-untyped-def]
        defect = labels.any(1, keepdims=True).astype(np.uint8)
        defective = np.flatnonzero(defect[:, 0])
        if len(defective) < 2:
            raise ValueError("two-stage training needs at least 2 defective training images")
        total = (steps_of(len(labels), cfg.batch_size, cfg.epochs)
                 + steps_of(len(defective), cfg.batch_size, cfg.epochs))
        kw: dict[str, Any] = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
                              "device": cfg.device, "progress": progress, "total_steps": total}
        h1 = fit_loop(self.nets["stage1"], LabelledImages(images, defect, cfg.image_size),
                      seed=cfg.seed, **kw)
        h2 = fit_loop(self.nets["stage2"], LabelledImages(images, labels, cfg.image_size,
                                                          indices=defective),
                      seed=cfg.seed + 1, step_offset=len(h1), **kw)
        return h1 + h2

    def predict_scores(self, images: Sequence[np.ndarray]):  # type: ignore[no-untyped-def]
        if not self.nets:
            raise RuntimeError(f"{self.name}: call fit() or load() before predicting")
        bs, size = self.eval_batch_size, self.meta["image_size"]
        for s in range(0, len(images), bs):
            run = [images[i] for i in range(s, min(s + bs, len(images)))]  # read once
            (p,) = predict_scores(self.nets["stage1"], run, image_size=size, device=self.device,
                                  batch_size=len(run))
            (c,) = predict_scores(self.nets["stage2"], run, image_size=size, device=self.device,
                                  batch_size=len(run))
            yield merge_scores(p[:, 0], c, self.merge)
