"""SR-training checkpoints: the resumable `last.pt` and the best-on-validation weights.

`last.pt` (torch.save, atomic) holds model/optimizer/scheduler/scaler state, the iteration
and the config; a resume may change only the RESUMABLE_FIELDS of the config. The best weights
are `best.safetensors` + `best.json` (sr_backends.weights), with the metadata of `best_meta`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.atomic import atomic_path
from bench.errors import ConfigError
from bench.training.config import RESUMABLE_FIELDS, SRTrainConfig
from bench.training.data import PairSet
from sr_backends.base import ArchSpec

CKPT_FORMAT = "sewer-sr-bench/sr-train-checkpoint/1"


def atomic_save(obj: Any, path: Path) -> None:
    # unique '.tmp-*' sibling + os.replace: a crash mid-write never leaves a truncated last.pt
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def check_resume_config(saved: dict[str, Any], cfg: SRTrainConfig) -> None:
    now = cfg.model_dump(mode="json")
    # A checkpoint written before a field existed was trained with that field's default.
    fields = type(cfg).model_fields
    saved = {**{k: now[k] for k, f in fields.items() if k not in saved and not f.is_required()
                and getattr(cfg, k) == f.get_default(call_default_factory=True)}, **saved}
    diff = sorted(k for k in set(saved) | set(now)
                  if k not in RESUMABLE_FIELDS and saved.get(k) != now.get(k))
    if diff:
        raise ConfigError(f"train-sr --resume: the config differs from the checkpoint's in "
                          f"{', '.join(repr(k) for k in diff)}; only "
                          f"{', '.join(sorted(RESUMABLE_FIELDS))} may change")


def save_best(model: nn.Module, out_dir: Path, meta: dict[str, Any]) -> None:
    from sr_backends.weights import save_weights  # lazy: keeps `import trainer` light
    save_weights(model, out_dir / "best", meta)  # atomic best.safetensors + best.json



def best_meta(name: str, spec: ArchSpec, hparams: dict[str, Any], cfg: SRTrainConfig,
               train_pairs: PairSet, val_pairs: PairSet, fingerprint: dict[str, Any],
               val_psnr: float, it: int) -> dict[str, Any]:
    return {
        "backend": name, "arch": spec.arch, "hparams": hparams, "scale": spec.scale,
        "needs_reference": spec.needs_reference, "ref_policy": train_pairs.ref_policy,
        "selected_on": "val", "split": "val", "val_images": len(val_pairs),
        "val_psnr_y": val_psnr,
        "metric": f"mean Y-PSNR (BT.601), crop_border={spec.scale}, fp32, whole val frames"
                  + (f" (centre crop {cfg.val_crop} LR px)" if cfg.val_crop else ""),
        "iteration": it, "iterations_total": cfg.iterations,
        "train_config": cfg.model_dump(mode="json"), "data_fingerprint": fingerprint,
        "torch": torch.__version__,
    }
