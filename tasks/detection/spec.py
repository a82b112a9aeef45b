"""Detection (the paper's Tables 5-6): per-class AP@0.5 and AP@[.5:.95] of defect boxes."""
from __future__ import annotations

from bench.metrics import MetricInfo
from tasks.spec import TaskSpec

_COCO = ("pycocotools COCOeval (bbox, 101-point interpolated precision, maxDets 100, area "
         "'all') over the harness's own detections; Mean = over classes with ground truth")

SPEC = TaskSpec(
    name="detection",
    description="defect boxes (JO, IL, IN, ... from the data): YOLOv5s, SSD; per-class AP",
    default_dataset="synthsewer-pipe",
    target="boxes",
    metrics=(
        MetricInfo("ap50", f"per-class AP at IoU 0.5; {_COCO}", unit="%", display_scale=100.0),
        MetricInfo("ap", f"per-class AP averaged over IoU 0.50:0.05:0.95; {_COCO}", unit="%",
                   display_scale=100.0),
    ),
    table_metrics=("ap50", "ap"),
    summary_rows=("Mean",),
)
