"""Detection (the paper's Tables 5-6): YOLOv5s (ultralytics) and SSD (torchvision), per-class AP
from pycocotools over the detections the harness computes itself."""
