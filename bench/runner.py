"""The main job, end to end: config -> plan -> execute -> store (-> tables, by the command).

Protocols (recorded in every row):
- train-on-hr (default): each task model is trained once on the HR training split and
  evaluated on every variant of the test split (same weights, several inputs);
- train-per-variant: a model is trained and tested on each variant.

Cells are appended atomically (bench/store.py), so after Ctrl-C or kill -9 the same command
plans only the unfinished cells; trained task models, SR weights and SR outputs come from the
content-addressed cache, so a `--fresh` run of an already-computed config trains nothing and
upscales nothing.

A run folder is keyed by the config's fingerprint and the run's inputs (`plan.Inputs`: the
data's content fingerprint, the device type, the CPU thread count). Edited data or another
thread count therefore opens a new folder, and the run names the earlier folder it does not
resume; stored cells are never reused for other inputs. `--dry-run` shows the same.
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from bench import atomic, interrupt
from bench.cache import Cache, cache_root, key_of
from bench.config import BenchConfig
from bench.console import log
from bench.errors import BenchError
from bench.executors import RunSummary, execute
from bench.plan import Inputs, Plan, make_plan, open_inputs
from bench.resolved_task import resolve_task_of
from bench.store import ResultStore


def effective_threads(cfg: BenchConfig) -> int:
    import torch

    return cfg.threads or torch.get_num_threads()


def _absolute_paths(cfg: BenchConfig) -> BenchConfig:
    """Absolute paths first: units may run in other processes, with another working dir."""
    from bench.datasets import resolve_root

    data = cfg.data.model_copy(update={
        "data_root": resolve_root(cfg.data.data_root),
        "sr_data_root": resolve_root(cfg.data.sr_data_root, "data.sr_data_root")})
    return cfg.model_copy(update={"data": data})


def run_key(cfg: BenchConfig, inputs: Inputs, fresh: bool = False) -> str:
    """The run folder's key: the config's fingerprint and the run's `Inputs` (data content,
    device type, threads); `fresh` adds the time, for a new folder."""
    identity = ";".join(f"{k}={v}" for k, v in sorted(inputs.identity().items()))
    return key_of(cfg.fingerprint(), identity, time.time_ns() if fresh else "")[:10]


def open_run(cfg: BenchConfig, inputs: Inputs, fresh: bool = False) -> ResultStore:
    """Same config and inputs -> same run folder (so a rerun resumes it); `fresh` -> new."""
    return ResultStore(Path(cfg.out) / f"{cfg.task.name}-{cfg.data.dataset}-"
                                       f"{run_key(cfg, inputs, fresh)}")


def superseded_runs(cfg: BenchConfig, store: ResultStore, inputs: Inputs) -> list[str]:
    """One line per earlier run folder of the same config whose inputs differ (data edited,
    other threads / device): the caller says why this run does not resume it."""
    out = Path(cfg.out)
    notes = []
    prefix = f"{cfg.task.name}-{cfg.data.dataset}-"
    now = inputs.identity()
    for other in sorted(out.glob(prefix + "*")) if out.is_dir() else []:
        if other == store.run_dir or not (other / "manifest.json").is_file():
            continue
        try:
            manifest = ResultStore(other).manifest()
        except BenchError:
            continue
        if manifest.get("config_fingerprint") != cfg.fingerprint():
            continue
        changed = [f"{k} {manifest.get(k)} -> {v}" for k, v in now.items()
                   if k in manifest and manifest.get(k) != v]
        if changed:
            notes.append(f"run {other.name} has the same config but other inputs "
                         f"({'; '.join(changed)}): not resumed, computing run {store.run_id}")
    return notes


def open_and_plan(cfg: BenchConfig, device: str, fresh: bool = False
                  ) -> tuple[ResultStore, Plan]:
    """Open the data (fingerprint once), the run folder those inputs key, and plan it."""
    cfg = _absolute_paths(cfg)
    threads = effective_threads(cfg)
    task = resolve_task_of(cfg)  # names checked once, before any data or training
    inputs = open_inputs(cfg, task, device, threads)
    store = open_run(cfg, inputs, fresh=fresh)
    root = cache_root(cfg.cache_dir)
    Cache(root).remove_stale_temps()
    atomic.remove_stale_temps(store.run_dir)
    plan = make_plan(cfg, task, store, device, threads, str(root.resolve()), inputs)
    if not fresh:
        for note in superseded_runs(cfg, store, inputs):
            log(note)
    interrupt.saved(lambda: f"{len(store.done_cells())}/{plan.cells_total} cells of run "
                            f"{store.run_id} are saved in {store.run_dir} (trained models and "
                            f"SR outputs are cached in {plan.cache_root})")
    return store, plan


def write_manifest(cfg: BenchConfig, store: ResultStore, plan: Plan,
                   labels: dict[str, str] | None = None) -> None:
    """`labels`: model -> what ran (TaskModel.describe), for the tables' titles."""
    if (store.run_dir / "manifest.json").exists():
        return
    import torch

    store.write_manifest(cfg.model_dump(mode="json"), device=plan.device,
                         command="bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                         extra={"task": plan.task.name, "dataset": plan.dataset,
                                "classes": plan.classes, "backends": cfg.sr.backends,
                                "protocol": cfg.task.protocol, "ref_policy": plan.policy,
                                "dataset_fingerprint": plan.dataset_fingerprint,
                                "device_type": plan.device.split(":")[0],
                                "threads": plan.threads,
                                # ATen's kernel set: YOLO trains other weights under another
                                # (docs/uncertainty.md); recorded, not keyed
                                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                                "config_fingerprint": plan.cfg.fingerprint(),
                                # what a rows/*.csv value is, per metric (tables/ show display
                                # units, stated in their .csv.json sidecars)
                                "row_units": {m.name: (f"fraction ({m.unit} = value x "
                                                       f"{m.display_scale:g} in tables)"
                                                       if m.display_scale != 1 else
                                                       (m.unit or "unitless"))
                                              for m in plan.task.metrics},
                                "model_labels": labels or {}})



def run_task(cfg: BenchConfig, device: str, progress: bool = True,
             fresh: bool = False) -> tuple[ResultStore, RunSummary]:
    """Plan and execute; a programmatic `bench run` (the command adds printing)."""
    store, plan = open_and_plan(cfg, device, fresh)
    write_manifest(cfg, store, plan)
    summary = execute(plan, store, progress_bars=progress)
    finish(plan, store)
    return store, summary


def finish(plan: Plan, store: ResultStore) -> None:
    """After a run: remove the temporaries that writers killed earlier left behind."""
    Cache(plan.cache_root).remove_stale_temps()
    atomic.remove_stale_temps(store.run_dir)

