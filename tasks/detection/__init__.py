"""Detection (the paper's Tables 5-6): YOLOv5u (ultralytics yolov5s.yaml; the paper ran the anchor-
based YOLOv5s) and SSD (torchvision), per-class AP
from pycocotools over the detections the harness computes itself."""
