"""Segmentation (the paper's Tables 3-4): per-class IoU of defect masks."""
from __future__ import annotations

from bench.metrics import MetricInfo
from tasks.spec import TaskSpec

SPEC = TaskSpec(
    name="segmentation",
    description="defect masks (JO, IL, IN, ... from the data): FCN, DeepLabV3+; per-class IoU",
    default_dataset="synthsewer-pipe",
    target="mask",
    metrics=(
        MetricInfo("iou", "per-class IoU from one confusion matrix over the split; Mean = "
                          "foreground classes present in the ground truth; background separate",
                   unit="%", display_scale=100.0),
        MetricInfo("pixel_acc", "pixel accuracy over the split (all classes, ignore 255 excluded)",
                   unit="%", display_scale=100.0),
    ),
    table_metrics=("iou",),
    summary_rows=("Mean", "background"),
)
