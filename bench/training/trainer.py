"""The SR trainer: `train_sr(backend, train_samples, val_samples, cfg, out_dir)`.

One loop for every learned backend, one CPU, one GPU or several GPUs under `torchrun`:
- loss: L1(SR, HR), or the model's own `training_losses(batch)` ("total" is backpropagated,
  other keys are logged; a returned "sr" is reused by the GAN step and not logged);
- GAN variants (`discriminator_step(batch, sr)`): generator step, then a discriminator step
  with a separate Adam over `model.discriminator`;
- distilled backends (`spec.distill`, config `distill` + `teacher`): the built student is
  wrapped by the spec's objective with the frozen teacher (`distillation_objective`); the
  checkpoint holds the objective's trainable parts, the published weights only
  `inference_model()` (the student);
- Adam + cosine annealing over `cfg.iterations`; AMP (fp16 autocast + GradScaler) on CUDA;
- `out_dir/last.pt` every `val_every` iterations (atomic), exact `resume`;
- best weights chosen on the VALIDATION split (never test): `out_dir/best.safetensors` +
  `out_dir/best.json` (sidecar: architecture, hparams, config, data fingerprint, val PSNR);
- logs: `out_dir/log.csv`, TensorBoard events in `out_dir/tb/`, a tqdm bar on a TTY.

Exact resume: batches are a function of (seed, iteration, rank) (data.py) and the global torch
RNG is reseeded from the same triple before every step, so nothing random carries over
between steps except through the checkpointed model/optimizer/scheduler/scaler state.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.datasets.base import Sample
from bench.degrade import to_uint8
from bench.errors import ConfigError
from bench.metrics.image_quality import psnr
from sr_backends.base import ArchSpec
from bench.training import ddp
from bench.training.checkpoint import (CKPT_FORMAT, atomic_save, best_meta,
                                       check_resume_config, save_best)
from bench.training.config import SRTrainConfig
from bench.training.distill import distillation_objective, published
from bench.training.joint import task_driven_objective
from bench.training.data import (PatchBatches, PairSet, iteration_seed, make_loader,
                                       prepare_pairs, val_items)
from bench.training.logger import TrainLogger
from bench.training.optim import Optimizers

log = logging.getLogger(__name__)

REF_ALIGN = 16  # block size of reference matching: LR sides must be multiples of it


@dataclass
class TrainResult:
    best_weights: Path          # out_dir/best.safetensors
    best_meta: Path             # out_dir/best.json (sidecar)
    best_val_psnr: float        # mean Y-PSNR (BT.601, crop = scale) on the val split
    best_iteration: int
    iterations_done: int
    last_checkpoint: Path       # out_dir/last.pt
    log_csv: Path               # out_dir/log.csv
    tensorboard_dir: Path | None
    stopped_early: bool = False
    model: nn.Module | None = field(default=None, repr=False)  # final weights (unwrapped)


class _Objective(nn.Module):
    """Puts every loss computation behind forward() because DistributedDataParallel only
    synchronises gradients of computations that went through the wrapped module's forward."""

    def __init__(self, model: nn.Module, needs_reference: bool):
        super().__init__()
        self.model, self.needs_reference = model, needs_reference

    def forward(self, batch: dict[str, torch.Tensor],
                sr: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if sr is not None:
            return {"total": self.model.discriminator_step(batch, sr)}
        if callable(getattr(self.model, "training_losses", None)):
            out = dict(self.model.training_losses(batch))
            if "total" not in out:
                raise ValueError(f"{type(self.model).__name__}.training_losses must return "
                                 f"a 'total' loss, got keys {sorted(out)}")
            return out
        sr = sr_forward(self.model, batch, self.needs_reference)
        loss = F.l1_loss(sr.float(), batch["hr"])
        return {"total": loss, "l1": loss.detach(), "sr": sr}


def sr_forward(model: nn.Module, batch: dict[str, torch.Tensor], needs_reference: bool):
    if not needs_reference:
        return model(batch["lr"])
    if getattr(model, "needs_depth", False):  # e.g. DSRNet with depth_source="gt"
        return model(batch["lr"], batch["ref"], batch["depth_lr"], batch["depth_ref_down"])
    return model(batch["lr"], batch["ref"])


def resolve_spec(spec_or_name: str | ArchSpec, label: str) -> tuple[str, ArchSpec]:
    """(backend name recorded in the sidecar, spec); a spec object is recorded as `label`."""
    if isinstance(spec_or_name, ArchSpec):
        name, spec = label, spec_or_name
    else:
        from sr_backends import BACKENDS  # lazy: resolving a name imports the backend module
        name, spec = spec_or_name, BACKENDS.get(spec_or_name)
    if not spec.trainable:
        raise ConfigError(f"train-sr: backend {name!r} has nothing to train "
                          f"(not a learned architecture)")
    return name, spec


def effective_hparams(spec: ArchSpec, cfg: SRTrainConfig) -> dict[str, Any]:
    tiny = getattr(spec, "tiny", None) or {}
    if cfg.tiny and not tiny:
        raise ConfigError(f"train-sr: backend {spec.arch!r} defines no 'tiny' variant")
    return {**spec.hparams, **(tiny if cfg.tiny else {}), **cfg.hparams}


@torch.no_grad()
def validate(model: nn.Module, pairs: PairSet, cfg: SRTrainConfig, needs_reference: bool,
             device: torch.device) -> float:
    """Mean Y-PSNR over the val split, fp32, whole frames (or the configured centre crop)."""
    was_training = model.training
    model.eval()
    align = REF_ALIGN if needs_reference else 1
    scores = []
    for _, batch, hr in val_items(pairs, align=align, crop=cfg.val_crop):
        batch = {k: v.to(device) for k, v in batch.items()}
        sr = to_uint8(sr_forward(model, batch, needs_reference).float())
        scores.append(psnr(sr, hr, crop_border=pairs.scale, y_channel=True))
    model.train(was_training)
    return float(sum(scores) / len(scores))


def _amp_enabled(cfg: SRTrainConfig, device: torch.device) -> bool:
    if cfg.amp == "auto":
        return device.type == "cuda"
    if cfg.amp and device.type != "cuda":
        raise ConfigError("train-sr: amp=true needs a CUDA device (use amp: auto)")
    return bool(cfg.amp)


def train_sr(spec_name_or_spec: str | ArchSpec, train_samples: Sequence[Sample],
             val_samples: Sequence[Sample], cfg: SRTrainConfig, out_dir: Path,
             resume: bool = False, progress: bool = True, stop_after: int | None = None,
             data_fingerprint: str | None = None) -> TrainResult:
    """Train, validate on `val_samples`, keep the best weights; see the module docstring.

    stop_after: interrupt after that many completed iterations (writing last.pt there), as if
    the job had been killed; `resume=True` continues to `cfg.iterations` with the same
    schedule. data_fingerprint: the dataset's own fingerprint, recorded in the sidecar.
    """
    name, spec = resolve_spec(spec_name_or_spec, cfg.backend)
    out_dir = Path(out_dir)
    last_path = out_dir / "last.pt"
    if not val_samples:
        raise ConfigError("train-sr: the validation split is empty; the best checkpoint is "
                          "chosen on it (never on test)")
    if resume and not last_path.exists():
        raise ConfigError(f"train-sr --resume: no checkpoint at {last_path}")
    if not resume and last_path.exists():
        raise ConfigError(f"train-sr: {last_path} exists; pass --resume to continue it or "
                          f"choose another output directory")
    dinfo = ddp.setup_distributed(cfg.device)
    try:
        return _train(name, spec, train_samples, val_samples, cfg, out_dir, resume, progress,
                      stop_after, data_fingerprint, dinfo)
    finally:
        ddp.cleanup()


def _check_depth(model: nn.Module, name: str, *splits: PairSet | None) -> None:
    """A model fed ground-truth depth needs it for every training and validation image."""
    if not getattr(model, "needs_depth", False):
        return
    for pairs in splits:
        if pairs is not None and (pairs.depth_lr is None or pairs.depth_ref_down is None):
            raise ConfigError(f"train-sr: backend {name!r} takes ground-truth depth "
                              f"(depth_source='gt') but the data have no depth maps for "
                              f"every image and its reference; use depth_source=predicted "
                              f"or none")


def _train_step(objective: nn.Module, model: nn.Module, batch: dict[str, torch.Tensor],
                optim: Optimizers, use_amp: bool, needs_ref: bool) -> dict[str, torch.Tensor]:
    dev = batch["lr"].device.type
    with torch.autocast(dev, dtype=torch.float16, enabled=use_amp):
        out = objective(batch)
    optim.backward_step("g", out["total"], optim.gen_params)
    if optim.gan:
        sr = out.get("sr")
        with torch.autocast(dev, dtype=torch.float16, enabled=use_amp):
            if sr is None:
                with torch.no_grad():
                    sr = sr_forward(model, batch, needs_ref)
            d_loss = objective(batch, sr=sr.detach())["total"]
        optim.backward_step("d", d_loss)
        out["d_total"] = d_loss
    optim.end_iteration()
    task_step = getattr(model, "task_step", None)
    if callable(task_step):  # joint (bench/training/joint.py): the task model's step, SR frozen
        out.update(task_step())
    return out


def _train(name: str, spec: ArchSpec, train_samples: Sequence[Sample],
           val_samples: Sequence[Sample], cfg: SRTrainConfig, out_dir: Path, resume: bool,
           progress: bool, stop_after: int | None, data_fp: str | None,
           dinfo: ddp.DistInfo) -> TrainResult:
    rank, world, device = dinfo.rank, dinfo.world_size, dinfo.device
    if world != cfg.world_size:  # N ranks train other weights than one: keyed apart
        raise ConfigError(f"train-sr: {world} process(es) train together but "
                          f"sr.train.world_size={cfg.world_size}; add --set "
                          f"sr.train.world_size={world} (and use the same setting where the "
                          "weights are used, e.g. bench run, so it finds them)")
    main = rank == 0
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path = out_dir / "last.pt"
    use_amp = _amp_enabled(cfg, device)
    needs_ref = spec.needs_reference

    prep = dict(degradation=cfg.degradation, seed=cfg.seed, scale=spec.scale,
                needs_reference=needs_ref, ref_policy=cfg.ref_policy)
    train_pairs = prepare_pairs(train_samples, **prep)
    val_pairs = prepare_pairs(val_samples, **prep) if main else None
    batches = PatchBatches(train_pairs, batch_size=cfg.batch_size, patch_size=cfg.patch_size,
                           seed=cfg.seed, rank=rank, augment=cfg.augment,
                           align=REF_ALIGN if needs_ref else 1)
    fingerprint = {"train": train_pairs.fingerprint, "dataset": data_fp,
                   "val": val_pairs.fingerprint if val_pairs else None}

    hparams = effective_hparams(spec, cfg)
    torch.manual_seed(cfg.seed)  # same init on every rank (DDP also broadcasts rank 0's)
    model = spec.build(**hparams).to(device)
    if spec.distill is not None or cfg.distill is not None:
        model = distillation_objective(name, spec, model, cfg).to(device)
    model = task_driven_objective(model, cfg, needs_ref, device, sr_forward).to(device)
    _check_depth(model, name, train_pairs, val_pairs)
    optim = Optimizers(model, cfg, use_amp, device)

    start, best, best_it, elapsed0 = 0, -math.inf, 0, 0.0
    if resume:
        ddp.barrier()
        ck = torch.load(last_path, map_location="cpu", weights_only=True)
        check_resume_config(ck["config"], cfg)
        if ck["train_fingerprint"] != train_pairs.fingerprint:
            raise ConfigError(f"train-sr --resume: the training data differ from those of "
                              f"{last_path} (fingerprint {ck['train_fingerprint']} vs "
                              f"{train_pairs.fingerprint})")
        model.load_state_dict(ck["model"])
        optim.load_state_dict(ck)
        start, best, best_it = ck["iteration"], ck["best_psnr"], ck["best_iteration"]
        elapsed0 = ck["elapsed"]
        log.info("resuming %s at iteration %d/%d (best val PSNR %.3f)", name, start,
                 cfg.iterations, best)

    objective: nn.Module = _Objective(model, needs_ref)
    if world > 1:
        # find_unused_parameters: GAN steps use only one of generator/discriminator, and some
        # models carry branches a config switches off (e.g. DSRNet's depth U-Net with GT depth)
        objective = nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)

    logger = TrainLogger(out_dir, start, cfg.log_every, enabled=main,
                         tensorboard=cfg.tensorboard, total=cfg.iterations,
                         progress=progress and sys.stderr.isatty())
    stop = cfg.iterations if stop_after is None else min(stop_after, cfg.iterations)
    loader = make_loader(batches, start, stop, cfg.num_workers, device.type == "cuda")
    t0 = time.perf_counter() - elapsed0
    # fixed patch shapes: let cuDNN pick its fastest kernels (GPU runs are not bitwise exact)
    cudnn_bench = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda"
    model.train()
    it = start
    try:
        for step, batch in zip(range(start, stop), loader):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            torch.manual_seed(iteration_seed(cfg.seed + 1, step, rank))  # dropout / GAN noise
            out = _train_step(objective, model, batch, optim, use_amp, needs_ref)
            it = step + 1
            val_now = it % cfg.val_every == 0 or it == cfg.iterations
            val_psnr = None
            if val_now and main:
                val_psnr = validate(model, val_pairs, cfg, needs_ref, device)
                if val_psnr > best:
                    best, best_it = val_psnr, it
                    save_best(published(model), out_dir, best_meta(name, spec, hparams, cfg, train_pairs,
                                                          val_pairs, fingerprint, best, it))
                    if callable(getattr(model, "save_task_model", None)):  # joint: its pair
                        model.save_task_model(out_dir / "best-task")
            logger.step(it, out, optim.lr(), val_psnr, time.perf_counter() - t0,
                        force=val_now, check_finite=not use_amp)
            if val_now or it == stop:
                if main:
                    atomic_save({
                        "format": CKPT_FORMAT, "iteration": it, "model": model.state_dict(),
                        **optim.state_dict(), "best_psnr": best, "best_iteration": best_it,
                        "elapsed": time.perf_counter() - t0, "backend": name,
                        "config": cfg.model_dump(mode="json"), "world_size": world,
                        "train_fingerprint": train_pairs.fingerprint}, last_path)
                ddp.barrier()  # no rank runs ahead of (or resumes from) a half-written file
    finally:
        torch.backends.cudnn.benchmark = cudnn_bench
        logger.close()
    if it < stop:
        raise RuntimeError(f"data loader ended early at iteration {it} (expected {stop})")
    return TrainResult(
        best_weights=out_dir / "best.safetensors", best_meta=out_dir / "best.json",
        best_val_psnr=best, best_iteration=best_it, iterations_done=it,
        last_checkpoint=last_path, log_csv=out_dir / "log.csv",
        tensorboard_dir=logger.tb_dir, stopped_early=it < cfg.iterations,
        model=published(model))

