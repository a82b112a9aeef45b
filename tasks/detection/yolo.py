"""YOLOv5 via ultralytics, trained from scratch and offline; inference run by the harness.

`yolov5s.yaml` in ultralytics is YOLOv5u: the YOLOv5 backbone with the anchor-free, decoupled
YOLOv8 head (not the original anchor-based head) — `describe()` says so.

Training is ultralytics' own trainer on the split written as a YOLO folder (PNG + txt) in a
private work folder inside the cache, removed afterwards. Pinned so that a CI run and a full
run train the same way (REFERENCES.md section 1): optimizer SGD (never `auto`), `nbs` = batch
(no gradient accumulation on tiny sets), warmup = 10% of the iterations (at most 3 epochs),
`amp=False` (its AMP check downloads weights), `val=False`, `plots=False`, `deterministic`,
seeded; the torch thread count is restored (ultralytics pins cpu_count - 1). Everything it
writes (settings, fonts, run folders) stays under $SEWER_BENCH_CACHE/ultralytics.

Inference mirrors ultralytics' DetectionValidator: the long side resized to `imgsz` (INTER_AREA
when shrinking, INTER_LINEAR when enlarging), LetterBox(scaleup=False) to a square, RGB / 255,
then `non_max_suppression(conf 0.001, iou 0.7, multi_label=True, max_det=100)` and
`scale_boxes` back to image pixels. One difference on purpose: NMS gets no wall-clock limit
(ultralytics stops after 0.05 s per image, which on a slow CPU would make results depend on
timing).
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.paths import cache_root
from bench.datasets.base import Target
from tasks.base import FitConfig, ProgressFn, check_preset
from tasks.detection.base import DetectionModel, Detections, target_boxes

YAMLS = {"full": "yolov5s.yaml", "small": "yolov5n.yaml", "tiny": "yolov5n.yaml"}
CONF, IOU, MAX_DET = 0.001, 0.7, 100
_INTEGRATIONS = ("clearml", "comet", "dvc", "hub", "mlflow", "neptune", "raytune",
                 "tensorboard", "wandb", "sync")


def ultralytics_offline() -> Path:
    """Point ultralytics at a folder in the cache, offline and quiet; returns that folder.
    Must run before the first `import ultralytics` of the process to move its config dir."""
    root = cache_root() / "ultralytics"
    config = root / "Ultralytics"
    config.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(root))
    os.environ.update({"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_VERBOSE": "0"})
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    from bench.atomic import atomic_path

    for name in ("Arial.ttf", "Arial.Unicode.ttf"):  # else check_font downloads them
        for folder in {config, Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"}:
            if not (folder / name).exists():
                with atomic_path(folder / name) as tmp:
                    shutil.copyfile(font, tmp)
    from ultralytics.utils import SETTINGS

    SETTINGS.update({k: False for k in _INTEGRATIONS if k in SETTINGS})
    return root


def _device(device: str) -> str:
    return "cpu" if device == "cpu" else (device.split(":", 1)[1] if ":" in device else "0")


def _write_yolo_folder(work: Path, images: Sequence[np.ndarray], targets: Sequence[Target],
                       classes: list[str]) -> Path:
    """The split as a YOLO folder (one image at a time); val = 2 training images (required by
    the trainer's final check, not used for selection)."""
    import yaml

    from bench.atomic import write_text
    from bench.datasets.imageio import write_png
    from bench.datasets.yolo_format import yolo_label_text

    for i in range(len(images)):
        im = np.asarray(images[i])
        boxes, labels = target_boxes(targets[i], i)
        for split in ("train", "val") if i < 2 else ("train",):
            write_png(work / "images" / split / f"{i:06d}.png", im)
            write_text(work / "labels" / split / f"{i:06d}.txt",
                       yolo_label_text(boxes, labels, *im.shape[:2]))
    data = {"path": str(work), "train": "images/train", "val": "images/val",
            "names": dict(enumerate(classes))}
    write_text(work / "data.yaml", yaml.safe_dump(data, sort_keys=False))
    return work / "data.yaml"


class YoloModel(DetectionModel):
    name = "yolov5s"
    _descriptions = {
        "full": "YOLOv5s (ultralytics yolov5s.yaml = YOLOv5u: anchor-free YOLOv8 head), from scratch",
        "small": "YOLOv5n (ultralytics yolov5n.yaml, YOLOv5u head), from scratch",
        "tiny": "YOLOv5n (ultralytics yolov5n.yaml, YOLOv5u head) at the run's small image_size",
    }

    def build(self, meta: dict[str, Any]) -> nn.Module:
        ultralytics_offline()
        from ultralytics.nn.tasks import DetectionModel as UltraDetectionModel

        return UltraDetectionModel(cfg=meta["yaml"], nc=int(meta["num_classes"]), verbose=False)

    def fit(self, images: Sequence[np.ndarray], targets: Sequence[Target], classes: list[str],
            cfg: FitConfig, progress: ProgressFn | None = None) -> None:
        n = len(images)
        if n != len(targets):
            raise ValueError(f"{n} images but {len(targets)} targets")
        bs = min(cfg.batch_size, n)
        if bs < 2:
            raise ValueError("YOLO training needs batch_size >= 2 and 2 images (BatchNorm)")
        root = ultralytics_offline()
        import ultralytics.utils.torch_utils as tu
        from ultralytics import YOLO
        from ultralytics.nn.tasks import load_checkpoint

        self.meta = {"model": self.name, "size": check_preset(cfg.size), "yaml": YAMLS[cfg.size],
                     "classes": list(classes), "num_classes": len(classes),
                     "image_size": cfg.image_size, "seed": cfg.seed}
        threads = torch.get_num_threads()
        (root / "work").mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="fit-", dir=root / "work"))
        try:
            data = _write_yolo_folder(work, images, targets, classes)
            tu.NUM_THREADS = threads  # select_device() would pin torch to cpu_count - 1 threads
            yolo = YOLO(self.meta["yaml"], task="detect", verbose=False)
            if progress is not None:
                total, done = cfg.epochs * math.ceil(n / bs), [0]

                def on_batch_end(trainer) -> None:
                    done[0] += 1
                    progress(min(done[0], total), total, f"epoch {trainer.epoch + 1}/{cfg.epochs}")
                yolo.add_callback("on_train_batch_end", on_batch_end)
            yolo.train(data=str(data), epochs=cfg.epochs, batch=bs, imgsz=cfg.image_size,
                       device=_device(cfg.device), workers=0, optimizer="SGD", lr0=cfg.lr,
                       nbs=bs, warmup_epochs=min(3.0, 0.1 * cfg.epochs), seed=cfg.seed,
                       deterministic=True, amp=False, plots=False, val=False, cache=False,
                       pretrained=False, project=str(work / "runs"), name="fit", exist_ok=True,
                       verbose=False)
            best = yolo.trainer.best if yolo.trainer.best.exists() else yolo.trainer.last
            net, _ = load_checkpoint(best, device="cpu")
        finally:
            torch.use_deterministic_algorithms(False)  # ultralytics leaves it on, process-wide
            torch.set_num_threads(threads)
            shutil.rmtree(work, ignore_errors=True)
        self.device = cfg.device
        self.net = self.build(self.meta)  # a clean float module of our own, then its weights
        self.net.load_state_dict({k: v.float() for k, v in net.state_dict().items()}, strict=True)
        self.net = self.net.to(cfg.device).eval()

    def _letterbox(self, im: np.ndarray) -> np.ndarray:
        import cv2
        from ultralytics.data.augment import LetterBox

        s = int(self.meta["image_size"])
        h0, w0 = im.shape[:2]
        r = s / max(h0, w0)
        if r != 1:  # ultralytics' BaseDataset.load_image with augment=False
            im = cv2.resize(im, (min(math.ceil(w0 * r), s), min(math.ceil(h0 * r), s)),
                            interpolation=cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA)
        return LetterBox(new_shape=(s, s), auto=False, scaleup=False)(image=im)

    @torch.no_grad()
    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        from ultralytics.utils.nms import non_max_suppression
        from ultralytics.utils.ops import scale_boxes

        x = np.stack([self._letterbox(np.ascontiguousarray(im)) for im in images])
        x = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255).to(self.device)
        preds = self.net.eval()(x)
        out = non_max_suppression(preds, CONF, IOU, multi_label=True, max_det=MAX_DET,
                                  max_time_img=math.inf)
        dets = []
        for im, d in zip(images, out):
            boxes = scale_boxes(tuple(x.shape[2:]), d[:, :4].clone(), im.shape[:2])
            dets.append((boxes.cpu().numpy(), d[:, 4].cpu().numpy(),
                         d[:, 5].long().cpu().numpy() + 1))
        return dets

    # --- feature taps ---------------------------------------------------------------------
    feature_taps = "neck outputs P3, P4, P5 (the Detect head's inputs)"

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[P3, P4, P5] of x (float (B,3,H,W) in [0,1], the scale the net reads), padded
        (replicate) to the stride 32; taken by a forward pre-hook on the Detect head."""
        import torch.nn.functional as F

        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before features()")
        ph, pw = (-x.shape[-2]) % 32, (-x.shape[-1]) % 32
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        got: list[list[torch.Tensor]] = []
        hook = self.net.model[-1].register_forward_pre_hook(
            lambda _m, args: got.append(list(args[0])))  # a copy: Detect rewrites its list
        try:
            self.net(x)
        finally:
            hook.remove()
        return got[0]
