"""Cross-check: the harness's YOLO mAP on HR test images vs ultralytics' own validator.

Trains the detection task's YOLO model on SynthSewer-Pipe HR (the quick profile's data and fit
settings unless overridden), scores the HR test split with the harness (its own letterbox +
NMS, then pycocotools), writes the same split as a YOLO folder and runs ultralytics'
`DetectionValidator` on the same weights — once at the harness's settings (max_det 100) and
once at ultralytics' defaults (max_det 300). Prints one JSON document.

    python benchmarks/yolo_val_crosscheck.py [--profile quick] [--set key=value ...]

Expected differences (REFERENCES.md section 1): ultralytics integrates precision with a
trapezoid over a 101-point grid from its own P/R curve, pycocotools takes the interpolated
precision at 101 recall points; ultralytics' val batches images with `rect` shapes; its NMS
has a per-image time limit. The harness's numbers are the pycocotools ones.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from bench.config import load_config

    cfg = load_config(args.profile, overrides=["task.name=detection", *args.overrides])
    import numpy as np
    import torch

    from bench.datasets import open_dataset
    from bench.datasets.writers import write_pipe
    from tasks.base import FitConfig
    from tasks.detection.yolo import YoloModel

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    d = cfg.data
    ds = open_dataset(d.dataset, seed=d.seed, n_train=d.n_train, n_val=d.n_val, n_test=d.n_test,
                      data_root=d.data_root)
    train, test = ds.split("train"), ds.split("test")
    t = cfg.task
    model = YoloModel()
    model.fit([s.hr for s in train], [s.target for s in train], ds.classes,
              FitConfig(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr,
                        image_size=t.image_size, size=t.size, seed=cfg.seeds[0]))
    rows = model.evaluate([s.hr for s in test], [s.target for s in test], ds.classes)
    harness = {f"{r.metric}/{r.cls}": r.value for r in rows}
    from ultralytics.models.yolo.detect import DetectionValidator

    result = {"profile": args.profile, "model": model.describe(t.size), "n_test": len(test),
              "harness_pycocotools": harness, "ultralytics_val": {}}
    with tempfile.TemporaryDirectory(prefix="yolo-xcheck-") as tmp:
        folder = write_pipe(ds, Path(tmp) / "pipe")
        for max_det in (100, 300):
            v = DetectionValidator(args={"data": str(folder / "data.yaml"), "split": "test",
                                         "imgsz": t.image_size, "batch": 8, "conf": 0.001,
                                         "iou": 0.7, "max_det": max_det, "plots": False,
                                         "device": "cpu", "half": False, "verbose": False,
                                         "workers": 0, "project": tmp, "name": "val"})
            v(model=model.net)
            box = v.metrics.box
            per = {ds.classes[int(k)]: float(box.ap50[i]) for i, k in enumerate(box.ap_class_index)}
            result["ultralytics_val"][f"max_det={max_det}"] = {
                "map50": float(box.map50), "map50_95": float(box.map), "ap50_per_class": per}
    hm = harness.get("ap50/Mean", float("nan"))
    um = result["ultralytics_val"]["max_det=100"]["map50"]
    result["difference_map50_points"] = round(100 * (hm - um), 3) if np.isfinite(hm) else None
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
