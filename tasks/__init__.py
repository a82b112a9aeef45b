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
        "detection": "tasks.detection.spec:SPEC",
        "classification": "tasks.classification.spec:SPEC",
    },
    {
        "segmentation": "defect segmentation (the paper's Tables 3-4), per-class IoU",
        "detection": "defect detection (the paper's Tables 5-6), per-class AP (pycocotools)",
        "classification": "multi-label defect classification (the paper's Tables 7-9; Sewer-ML), "
                          "per-class F1, F2-CIW, F1-Normal",
    },
)

TASK_MODELS: Registry = Registry(
    "task model",
    {
        "segmentation/fcn": "tasks.segmentation.models:FCNModel",
        "segmentation/deeplabv3plus": "tasks.segmentation.models:DeepLabV3PlusModel",
        "detection/yolov5s": "tasks.detection.yolo:YoloModel",
        "detection/ssd": "tasks.detection.ssd:SSDModel",
        "classification/inception_v3": "tasks.classification.models:InceptionV3Model",
        "classification/resnet101": "tasks.classification.models:ResNet101Model",
        "classification/two-stage": "tasks.classification.two_stage:TwoStageModel",
    },
    {
        "segmentation/fcn": "FCN (torchvision, from scratch): ResNet-50 (full), ResNet-18 "
                            "(small), ResNet-10 (tiny)",
        "segmentation/deeplabv3plus": "DeepLabV3+ (segmentation-models-pytorch, from scratch): "
                                      "ResNet-50 (full), ResNet-18 (small), ResNet-10t (tiny)",
        "detection/yolov5s": "YOLOv5u (ultralytics yolov5s.yaml: anchor-free head, not the "
                             "paper's anchor-based YOLOv5s, Table 5; from scratch): v5s (full), v5n "
                             "(small, tiny)",
        "detection/ssd": "SSD (torchvision, from scratch): SSD300-VGG16 (full), "
                         "SSDlite320-MobileNetV3 (small), its x0.5 width (tiny)",
        "classification/inception_v3": "InceptionV3 (timm, from scratch, 299x299): full; same "
                                       "topology at 1/4 (small), 1/8 width (tiny)",
        "classification/resnet101": "ResNet-101 (timm, from scratch, 224x224): full; ResNet-18 "
                                    "layout half width (small), ResNet-10 quarter width (tiny)",
        "classification/two-stage": "two-stage defect/normal + multi-label defect nets (timm), "
                                    "Sewer-ML merge 'replace'; stage nets = resnet101 preset",
    },
)

# The task's Evaluator (tasks.base): its `replay(state, classes)` recomputes the rows from a
# stored evaluation state (bootstrap intervals, `bench table`).
EVALUATORS: Registry = Registry(
    "task evaluator",
    {
        "segmentation": "tasks.segmentation.metrics:SegmentationEvaluator",
        "detection": "tasks.detection.metrics:DetectionEvaluator",
        "classification": "tasks.classification.metrics:ClassificationEvaluator",
    },
)


def models_for(task: str) -> list[str]:
    return [n.split("/", 1)[1] for n in TASK_MODELS.names() if n.startswith(task + "/")]
