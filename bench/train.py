"""Training a learned SR backend from the harness config (`bench train-sr`, and `bench run`
when a backend has no weights yet).

Weights land in the content-addressed cache under a key of (backend, hyper-parameters,
budget, data, degradation), so `bench run` and `bench eval-sr` find them by backend name.
The training folder (`<stem>-train/`) keeps `last.pt`, so an interrupted training resumes
when the same command is run again.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.datasets import open_dataset
from sr_backends import BACKENDS
from sr_backends.base import ArchSpec


def backend_overrides(name: str, cfg: BenchConfig) -> dict[str, Any]:
    """Hyper-parameter overrides on top of the spec: tiny variant (smoke) + user overrides."""
    spec: ArchSpec = BACKENDS.get(name)
    return {**(spec.tiny if cfg.sr.tiny else {}), **cfg.sr.hparams.get(name, {})}


def train_ref_policy(name: str, cfg: BenchConfig) -> str:
    """The reference policy a backend trains with: the harness's `sr.ref_policy`, so a model
    evaluated with `self` references was also trained with them (irrelevant for SISR)."""
    spec: ArchSpec = BACKENDS.get(name)
    return cfg.sr.ref_policy if spec.needs_reference else "auto"


def train_config(name: str, cfg: BenchConfig, device: str):
    from sr_backends.training.config import load_train_config

    budget = cfg.sr.train
    return load_train_config({
        "backend": name, "hparams": backend_overrides(name, cfg), "iterations": budget.iterations,
        "ref_policy": train_ref_policy(name, cfg),
        "batch_size": budget.batch_size, "patch_size": budget.patch_size, "lr": budget.lr,
        "val_every": min(budget.val_every, budget.iterations), "seed": cfg.data.seed,
        "device": device, "degradation": cfg.degradation.model_dump(),
    })


def train_backend(name: str, cfg: BenchConfig, stem: Path, device: str, progress: bool = True,
                  stop_after: int | None = None) -> Path:
    """Train `name` with the profile's budget; weights end up at `<stem>.safetensors`."""
    from sr_backends.training.trainer import train_sr

    budget = cfg.sr.train
    data = open_dataset(cfg.data.sr_dataset, seed=cfg.data.seed, n_train=budget.n_train,
                        n_val=budget.n_val, n_test=budget.n_test, data_root=cfg.data.sr_data_root)
    work = stem.parent / f"{stem.name}-train"
    result = train_sr(name, list(data.split("train")), list(data.split("val")),
                      train_config(name, cfg, device), work,
                      resume=(work / "last.pt").exists(), progress=progress,
                      stop_after=stop_after, data_fingerprint=data.fingerprint())
    if (stop_after is not None and result.stopped_early) or not is_main_process():
        return work
    for suffix in (".safetensors", ".json"):
        tmp = stem.parent / f".tmp-{stem.name}{suffix}"
        shutil.copyfile(result.best_weights.with_suffix(suffix), tmp)
        tmp.replace(stem.with_suffix(suffix))
    return stem.with_suffix(".safetensors")


def is_main_process() -> bool:
    """Rank 0 under torchrun (the process group is already torn down when training returns)."""
    return int(os.environ.get("RANK", "0")) == 0
