"""The main job, end to end: config -> plan -> execute -> store (-> tables, by the command).

Protocols (recorded in every row):
- train-on-hr (default): each task model is trained once on the HR training split and
  evaluated on every variant of the test split (same weights, several inputs);
- train-per-variant: a model is trained and tested on each variant.

Cells are appended atomically (bench/store.py), so after Ctrl-C or kill -9 the same command
plans only the unfinished cells; trained task models, SR weights and SR outputs come from the
content-addressed cache, so a `--fresh` run of an already-computed config trains nothing and
upscales nothing.
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from bench.cache import cache_root, key_of
from bench.config import BenchConfig
from bench.executors import RunSummary, execute
from bench.plan import Plan, make_plan
from bench.store import ResultStore


def effective_threads(cfg: BenchConfig) -> int:
    import torch

    return cfg.threads or torch.get_num_threads()


def open_run(cfg: BenchConfig, fresh: bool = False) -> ResultStore:
    """Same config -> same run folder (so a rerun resumes it); `fresh` -> a new one."""
    run_key = key_of(cfg.fingerprint(), time.time_ns() if fresh else "")[:10]
    return ResultStore(Path(cfg.out) / f"{cfg.task.name}-{cfg.data.dataset}-{run_key}")


def plan_run(cfg: BenchConfig, store: ResultStore, device: str) -> Plan:
    """Absolute paths first: units may run in other processes, with another working dir."""
    data = cfg.data.model_copy(update={
        "data_root": cfg.data.data_root.resolve() if cfg.data.data_root else None,
        "sr_data_root": cfg.data.sr_data_root.resolve() if cfg.data.sr_data_root else None})
    cfg = cfg.model_copy(update={"data": data})
    return make_plan(cfg, store, device, effective_threads(cfg),
                     str(cache_root(cfg.cache_dir).resolve()))


def write_manifest(cfg: BenchConfig, store: ResultStore, plan: Plan) -> None:
    if (store.run_dir / "manifest.json").exists():
        return
    store.write_manifest(cfg.model_dump(mode="json"), device=plan.device,
                         command="bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                         extra={"task": plan.task, "dataset": plan.dataset,
                                "classes": plan.classes, "backends": cfg.sr.backends,
                                "protocol": cfg.task.protocol, "ref_policy": plan.policy,
                                "dataset_fingerprint": plan.dataset_fingerprint,
                                "threads": plan.threads})


def run_task(cfg: BenchConfig, store: ResultStore, device: str,
             progress: bool = True) -> RunSummary:
    """Plan and execute; a programmatic `bench run` (the command adds printing)."""
    plan = plan_run(cfg, store, device)
    write_manifest(cfg, store, plan)
    return execute(plan, store, progress_bars=progress)

