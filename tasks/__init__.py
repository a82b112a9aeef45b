"""Downstream tasks. They know nothing about SR: they train on images and evaluate images.

TASK_MODELS maps "<task>/<model>" to a lazily imported factory returning a `TaskModel`.
Adding a model = one module + one line here.
"""
from bench.registry import Registry

TASK_MODELS: Registry = Registry(
    "task model",
    {
        "segmentation/fcn": "tasks.segmentation.models:FCNModel",
        "segmentation/deeplabv3plus": "tasks.segmentation.models:DeepLabV3PlusModel",
    },
    {
        "segmentation/fcn": "FCN-ResNet50 (torchvision, from scratch)",
        "segmentation/deeplabv3plus": "DeepLabV3+ (segmentation-models-pytorch, from scratch)",
    },
)

TASKS = ("segmentation",)


def models_for(task: str) -> list[str]:
    return [n.split("/", 1)[1] for n in TASK_MODELS.names() if n.startswith(task + "/")]
