"""Downstream tasks. They know nothing about SR: they train on images and evaluate images.

TASKS maps a task name to its `TaskSpec` (tasks/<task>/spec.py, torch-free); TASK_MODELS maps
"<task>/<model>" to a lazily imported `TaskModel` class. Adding a model = one module + one line
in TASK_MODELS; adding a task = a package with a spec + one line in TASKS (+ its models and
configs/tasks/<task>.yaml).
"""
from bench.registry import Registry

TASKS: Registry = Registry(
    "task",
    {
        "segmentation": "tasks.segmentation.spec:SPEC",
    },
    {
        "segmentation": "defect segmentation (the paper's Tables 3-4), per-class IoU",
    },
)

TASK_MODELS: Registry = Registry(
    "task model",
    {
        "segmentation/fcn": "tasks.segmentation.models:FCNModel",
        "segmentation/deeplabv3plus": "tasks.segmentation.models:DeepLabV3PlusModel",
    },
    {
        "segmentation/fcn": "FCN (torchvision, from scratch): ResNet-50 (full), ResNet-18 "
                            "(small), ResNet-10 (tiny)",
        "segmentation/deeplabv3plus": "DeepLabV3+ (segmentation-models-pytorch, from scratch): "
                                      "ResNet-50 (full), ResNet-18 (small), ResNet-10t (tiny)",
    },
)


def models_for(task: str) -> list[str]:
    return [n.split("/", 1)[1] for n in TASK_MODELS.names() if n.startswith(task + "/")]
