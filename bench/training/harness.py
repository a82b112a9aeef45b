"""Training a resolved learned SR backend from the harness config (`bench train-sr`, and
`bench run` when a backend has no weights yet).

Weights land in the content-addressed cache under the backend's `weights_key`, so `bench run`
and `bench eval-sr` find them by name. The training folder (`<stem>-train/`) keeps `last.pt`,
so an interrupted training resumes when the same command runs again.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench import atomic
from bench.cache import Cache
from bench.config import BenchConfig


def train_config(backend, cfg: BenchConfig, device: str, cache: Cache | None = None):
    """The one SR-training schema: `sr.train` + what the harness fills in (for a distilled
    backend also `sr.distill` and its teacher's weights, read from `cache`)."""
    from bench.training.config import load_train_config

    t = backend.train or cfg.sr.train  # sr.train + sr.train_by_backend.<name>
    extra = {}
    if backend.teacher is not None:
        from sr_backends.weights import sha256_file

        weights = backend.teacher.weights_path(cache)
        extra = {"distill": cfg.sr.distill.model_dump(),
                 "teacher": {"backend": backend.teacher.name, "weights": str(weights),
                             "weights_sha256": sha256_file(weights),
                             "hparams": backend.teacher.hparams}}
    return load_train_config({
        **t.training_fields(), "backend": backend.weights_label, "hparams": backend.hparams,
        "ref_policy": backend.train_policy, "val_every": min(t.val_every, t.iterations),
        "seed": cfg.data.seed if t.seed is None else t.seed, "device": device,
        "degradation": cfg.degradation.model_dump(),
        "n_train": t.n_train, "n_val": t.n_val, **extra,
        **(backend.task_driven.train_config(cache) if backend.task_driven else {}),
    })


def train_backend(backend, cfg: BenchConfig, cache: Cache, device: str, progress: bool = True,
                  stop_after: int | None = None, fresh: bool = False) -> Path:
    """Train `backend` (a ResolvedBackend) with `sr.train`; weights end up at
    `<stem>.safetensors` (+ `.json` sidecar), published atomically.

    A per-key lock makes this safe for several processes on one cache: the first trains,
    the others wait and then find the weights (no second training, one log.csv). `fresh`
    discards an earlier training of the same key (its folder and its weights) first."""
    stem = backend.weights_stem(cache)
    weights = stem.with_suffix(".safetensors")
    work = stem.parent / f"{stem.name}-train"
    with _weights_lock(cache, backend):
        atomic.remove_stale_temps(stem.parent)  # e.g. a last.pt temp of a killed training
        if fresh:
            shutil.rmtree(work, ignore_errors=True)
            if backend.task_driven is not None and backend.task_driven.sr_protocol == "joint":
                from bench.task_driven import joint_task_key  # its pair goes with the weights
                shutil.rmtree(cache.task_dir(joint_task_key(backend)), ignore_errors=True)
            for suffix in (".safetensors", ".json"):
                stem.with_suffix(suffix).unlink(missing_ok=True)
        if weights.exists() and stop_after is None:
            return weights  # trained meanwhile by another process (or before)
        return _train_locked(backend, cfg, cache, device, stem, work, progress, stop_after)


def _weights_lock(cache: Cache, backend):
    """The key's lock; not under torchrun, whose ranks must all enter training together."""
    import contextlib

    from bench.locks import key_lock

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return contextlib.nullcontext()
    return key_lock(cache.lock_path("weights", f"{backend.weights_label}-{backend.weights_key}"),
                    f"the weights of {backend.name}")


def _train_locked(backend, cfg: BenchConfig, cache: Cache, device: str, stem: Path,
                  work: Path, progress: bool, stop_after: int | None) -> Path:
    from bench import interrupt
    from bench.backends import sr_training_data
    from bench.training.trainer import train_sr

    data = sr_training_data(cfg)
    if backend.teacher is not None:
        ensure_weights([backend.teacher], cfg, cache, device, progress)
    if backend.task_driven is not None:  # its frozen task model, trained first when missing
        from bench.task_driven import ensure_task_model
        ensure_task_model(backend.task_driven, cfg, cache, progress)
    from bench.console import log

    if is_main_process():  # once, not per torchrun rank
        log(f"training {backend.name}: logs in {work} (log.csv, TensorBoard tb/)")
    every = (backend.train or cfg.sr.train).val_every
    # only while it trains: a later Ctrl-C gets the note that was there before (the run's)
    with interrupt.noting(lambda: f"the training of {backend.name} is checkpointed in "
                                  f"{work / 'last.pt'} every {every} iterations"):
        result = train_sr(backend.spec, list(data.split("train")), list(data.split("val")),
                          train_config(backend, cfg, device, cache), work,
                          resume=(work / "last.pt").exists(), progress=progress,
                          stop_after=stop_after, data_fingerprint=data.fingerprint())
    if stop_after is not None and result.stopped_early:
        return work
    if not is_main_process():  # rank 0 publishes; a rank that went on before it did would
        return _wait_published(stem.with_suffix(".safetensors"))  # train the key again
    td = backend.task_driven
    if td is not None and td.sr_protocol == "joint":  # before the weights: they mean "done"
        _publish_joint_task_model(backend, cache, result.best_weights.parent / "best-task")
    # Sidecar first, weights last: a reader trusts the weights file only, so it never sees
    # weights without their sidecar.
    for suffix in (".json", ".safetensors"):
        with atomic.atomic_path(stem.with_suffix(suffix)) as tmp:
            shutil.copyfile(result.best_weights.with_suffix(suffix), tmp)
    return stem.with_suffix(".safetensors")


def _publish_joint_task_model(backend, cache: Cache, source: Path) -> None:
    """The task model trained with `joint` (snapshotted with the best SR weights) into the
    task cache, under bench.task_driven.joint_task_key: its SR column's task model."""
    from bench.task_driven import joint_task_key

    def complete(d: Path) -> bool:
        return all((d / f).is_file() for f in ("model.json", "model.safetensors"))

    if not complete(source):
        raise RuntimeError(f"joint training of {backend.name}: no task model in {source}")
    cache.publish_dir(cache.task_dir(joint_task_key(backend)),
                      lambda d: shutil.copytree(source, d, dirs_exist_ok=True),
                      complete=complete)


def ensure_weights(backends, cfg: BenchConfig, cache: Cache, device: str,
                   progress: bool = True) -> None:
    """Train every harness-trained backend of `backends` that has no weights yet."""
    from bench.console import log

    for b in backends:
        if not b.has_weights(cache):
            how = (f"distilling it from {b.teacher.name} now" if b.teacher is not None
                   else "training it now")
            log(f"[bold]{b.name}[/] has no trained weights for this profile/data yet: {how} "
                f"({(b.train or cfg.sr.train).iterations} iterations, cached for next time)")
            train_backend(b, cfg, cache, device, progress=progress)


def _wait_published(weights: Path, timeout_s: float = 600.0) -> Path:
    """Under torchrun: wait until rank 0 has published `weights` (it copies them right after
    training). Otherwise a following step of the same command (a distillation after its
    teacher's training) would find no weights on this rank, start that training again alone
    and hang in its collectives while rank 0 runs the next one."""
    import time

    from bench.errors import BenchError

    deadline = time.monotonic() + timeout_s
    while not weights.exists():
        if time.monotonic() > deadline:
            raise BenchError(f"rank {os.environ.get('RANK')}: rank 0 did not publish {weights} "
                             f"within {timeout_s:.0f} s; under torchrun on several machines "
                             "the cache must be one shared folder (cache_dir)")
        time.sleep(0.2)
    return weights


def is_main_process() -> bool:
    """Rank 0 under torchrun, from the environment (also before and between trainings)."""
    return int(os.environ.get("RANK", "0")) == 0
