"""Classification (the paper's Tables 7-9; Sewer-ML's benchmark): multi-label defect classes.

Metric conventions: tasks/classification/metrics.py (threshold score >= 0.5, zero_division 0,
Mean over the classes with a positive in the test split, official F2-CIW weights, F1-Normal).
"""
from __future__ import annotations

from bench.metrics import MetricInfo
from tasks.spec import TaskSpec

_AT = "score >= 0.5"
# Two-stage settings (`task.model_options.two-stage: {merge, stage1, stage2}`): the merge rule
# and each stage's network, "NAME" (at the run's task.size) or "NAME:PRESET".
MERGES = ("replace", "multiply")
STAGE_NETS = ("resnet101", "inception_v3")
STAGE_CHOICES = STAGE_NETS + tuple(f"{n}:{p}" for n in STAGE_NETS
                                   for p in ("tiny", "small", "full"))
SPEC = TaskSpec(
    name="classification",
    description="multi-label defect classes (17 Sewer-ML codes): InceptionV3, ResNet-101, "
                "two-stage; per-class F1, F2-CIW, F1-Normal",
    default_dataset="synthsewer-cls",
    target="labels",
    metrics=(
        MetricInfo("f1", f"per-class F1 at {_AT} (zero_division 0); Mean = mean over classes "
                         "with a positive in the split", unit="%", display_scale=100.0),
        MetricInfo("f2", f"per-class F2 at {_AT} (zero_division 0)", unit="%",
                   display_scale=100.0),
        MetricInfo("precision", f"per-class precision at {_AT} (zero_division 0)", unit="%",
                   display_scale=100.0),
        MetricInfo("recall", f"per-class recall at {_AT} (zero_division 0)", unit="%",
                   display_scale=100.0),
        MetricInfo("f2_ciw", f"Sewer-ML F2-CIW: class-importance-weighted F2 at {_AT}, official "
                             "weights over the dataset's classes", unit="%", display_scale=100.0),
        MetricInfo("f1_normal", f"Sewer-ML F1-Normal: F1 of 'no label' (predicted: no score "
                                f"{_AT[6:]})", unit="%", display_scale=100.0),
    ),
    table_metrics=("f1",),
    # F2-CIW and F1-Normal are stored under their own metrics; the F1 table carries them.
    # "Mean (15)": the paper's 15-class Mean (no PB, OS), shown with task.mean_classes=paper15;
    # "MF1": Sewer-ML's official mean F1 over the 17 classes and normal (absent ones count 0).
    summary_rows=("Mean", "Mean (15)", "MF1", ("F2-CIW", "f2_ciw"), ("F1-Normal", "f1_normal")),
    row_options={"Mean (15)": ("mean_classes", "paper15")},
    model_options={"inception_v3": {"image_size": 299}},
    model_settings={"two-stage": {"merge": MERGES, "stage1": STAGE_CHOICES,
                                  "stage2": STAGE_CHOICES}},
)
