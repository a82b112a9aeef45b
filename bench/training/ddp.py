"""Helpers for running under `torchrun` (DistributedDataParallel), and single-process too.

`torchrun --nproc_per_node=N ...` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT. With
WORLD_SIZE > 1 `setup_distributed` joins the process group (NCCL on CUDA, Gloo on CPU);
otherwise it is a no-op, so the same trainer code serves one CPU, one GPU and several GPUs.
"""
from __future__ import annotations

import atexit
import os
from typing import NamedTuple

import torch
import torch.distributed as dist

from bench.errors import ConfigError

# True only when *we* created the process group, so we never tear down a group that a caller
# (e.g. a larger program) owns.
_owns_group = False


class DistInfo(NamedTuple):
    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def resolve_device(pref: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' -> this process's GPU if CUDA is present, else CPU; explicit names are checked."""
    if pref == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(pref)
    except RuntimeError as exc:
        raise ConfigError(f"train-sr: bad value for 'device': {pref!r} ({exc})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train-sr: device {pref!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one; returns (rank, world, local, device)."""
    global _owns_group
    world = env_world_size()
    if world <= 1 and not dist.is_initialized():
        return DistInfo(0, 1, 0, resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)  # NCCL uses the current device for its communicators
    if not dist.is_initialized():
        if not dist.is_available():
            raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=int(os.environ.get("RANK", "0")),
                                world_size=world)
        _owns_group = True
        atexit.register(_destroy_owned_group)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0 (or not distributed): the one process that validates, saves and logs."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """End of one training. The process group we created stays until the process exits: one
    command may train twice (`bench distill`: the teacher, then the student), and a second
    init_process_group in the same torchrun workers hung in 4 of 5 runs here (torchrun's
    store still holds the first group's keys, the likely cause). Joining once and reusing
    the group: 6 of 6 finished; `setup_distributed` finds it initialised."""


def _destroy_owned_group() -> None:
    global _owns_group
    if _owns_group and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _owns_group = False
