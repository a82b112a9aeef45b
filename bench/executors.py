"""Executors: run a plan's units and write their rows. The driver (this process) is always the
single writer of result rows; units only return them (bench/execute.py).

- `local` (default): units one after another in this process.
- `ray`: each unit is a Ray task (`num_cpus` / `num_gpus` from `executor.*`), retried up to
  `executor.max_retries` times when its worker process dies; rows are written as groups
  finish. Ray starts a local cluster unless `executor.address` names one ('auto' joins the
  cluster `ray start` made, e.g. inside a Slurm allocation). Caches must live on a path every
  worker sees; their entries are published atomically, so two workers producing the same key
  never corrupt it.
"""
from __future__ import annotations

import contextlib
import functools
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from bench.console import Heartbeat, log
from bench.errors import BenchError
from bench.execute import run_group, train_sr
from bench.faults import fault
from bench.plan import Group, Plan, still_to_do
from bench.store import ResultStore


@dataclass
class RunSummary:
    run_id: str
    cells_total: int = 0
    cells_computed: int = 0
    seconds: float = 0.0
    cache: dict[str, int] = field(default_factory=dict)
    ref_policy: str = ""
    stages: dict[str, float] = field(default_factory=dict)


class Progress:
    """One line per finished unit with elapsed time and ETA (works in a pipe and in CI logs);
    a tqdm bar for training steps when stderr is a terminal."""

    def __init__(self, total_groups: int, bars: bool):
        self.total, self.done, self.bars = total_groups, 0, bars
        self.start = time.perf_counter()
        self._bar = None
        self._beat: Heartbeat | None = None

    def step(self, stage: str, step: int, total: int, text: str) -> None:
        if self.bars:
            from tqdm import tqdm

            if self._bar is None or self._bar.desc != stage:
                self.close_bar()
                self._bar = tqdm(total=total, desc=stage, leave=False)
            self._bar.total, self._bar.n = total, step
            self._bar.set_postfix_str(text)
            self._bar.refresh()
        elif total > 1:  # a heartbeat in logs: one line per HEARTBEAT_S with the stage's ETA
            if self._beat is None or self._beat.label != f"  {stage}":
                last = self._beat.last_line if self._beat is not None else None
                self._beat = Heartbeat(f"  {stage}", total, start_step=step, last_line=last)
            self._beat.total = total
            self._beat.update(step, text)

    def close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def finished(self, group: Group) -> None:
        self.close_bar()
        self.done += 1
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        log(f"[{self.done}/{self.total}] {group.label}: {len(group.cells)} cell(s) done "
            f"({elapsed:.0f} s elapsed, ~{eta:.0f} s left)")


def check_executor(ex, flag_address: str | None = None) -> None:
    """The executor settings, checked before anything is planned or written: `--ray-address`
    only with ray; a cluster address that answers; no more GPUs per group than this machine
    has when Ray would start a local cluster (Ray would queue the tasks forever)."""
    if flag_address is not None and ex.name != "ray":
        raise BenchError(f"--ray-address {flag_address}: only used with --executor ray "
                         f"(the executor is {ex.name!r})")
    if ex.name != "ray":
        return
    if ex.address not in (None, "", "auto", "local"):
        _check_reachable(ex.address)
    if ex.address in (None, "", "local") and (ex.num_cpus or 0) > (os.cpu_count() or 1):
        raise BenchError(f"executor.num_cpus={ex.num_cpus}: this machine has {os.cpu_count()} "
                         "CPU(s), so Ray would wait forever for a slot; use fewer")
    if ex.address in (None, "", "local") and ex.num_gpus > 0:
        import torch

        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if ex.num_gpus > have:
            raise BenchError(f"executor.num_gpus={ex.num_gpus:g}: this machine has {have} GPU(s), "
                             "so Ray would wait forever for one; set executor.num_gpus=0 or "
                             "join a cluster with GPUs (--ray-address)")


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise BenchError(f"--ray-address {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise BenchError(f"--ray-address {address}: cannot reach {host}:{port} "
                         f"({exc.strerror or exc}); is `ray start --head` running there?") from None


def _check_cluster(ray, ex, cpus: int) -> None:
    """After joining: a group asking for more CPUs/GPUs than the whole cluster has would wait
    forever; say so instead."""
    have = ray.cluster_resources()
    for what, need in (("GPU", ex.num_gpus), ("CPU", cpus)):
        if need > have.get(what, 0):
            raise BenchError(f"executor.num_{what.lower()}s={need:g}: the Ray cluster has "
                             f"{have.get(what, 0):g} {what}(s) in all, so the tasks would wait "
                             "forever")


def execute(plan: Plan, store: ResultStore, progress_bars: bool = True) -> RunSummary:
    """Run every unit of `plan` with the configured executor; write rows as groups finish."""
    from bench.cache import Cache

    start = time.perf_counter()
    summary = RunSummary(plan.run_id, cells_total=plan.cells_total, ref_policy=plan.policy)
    stats: Counter[str] = Counter()
    from bench.config import EXECUTORS

    runner = functools.partial(EXECUTORS.get(plan.cfg.executor.name), store=store)
    to_train = plan.sr_to_train(Cache(plan.cache_root))
    stats["weights_trained"] += len(to_train)
    stats["weights_hit"] += sum(1 for n in plan.backends if plan.backends[n].trained_by_harness
                                and n not in to_train)

    def write(group: Group, results, group_stats: dict) -> None:
        stats.update(group_stats)
        for cell_id, rows, *state in results:
            store.append(cell_id, rows, state=state[0] if state else None)
            summary.cells_computed += 1
            fault("cells", count=summary.cells_computed)  # test-only (bench/faults.py)

    if plan.groups:
        runner(plan, to_train, write, summary, progress_bars)
    summary.seconds = time.perf_counter() - start
    summary.cache = dict(stats)
    return summary


def group_lock(store: ResultStore, group: Group):
    """The run-folder lock of one group, held while it is computed and its rows written, by
    the local and the Ray executor alike: two runs of one command compute each cell once."""
    return store.lock(f"group-{group.model}-{group.seed}-{group.trained_on.label}", group.label)


def _run_local(plan: Plan, to_train: list[str], write: Callable, summary: RunSummary,
               bars: bool, store: ResultStore) -> None:
    t0 = time.perf_counter()
    for name in to_train:
        log(f"[bold]{name}[/] has no trained weights for this profile/data yet: training it now "
            f"({(plan.backends[name].train or plan.cfg.sr.train).iterations} iterations, "
            "cached for next time)")
        train_sr(plan, name, progress=bars)
    summary.stages["sr training"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    progress = Progress(len(plan.groups), bars)
    for group in plan.groups:
        # another process on the same run folder (the same command twice) computes a group
        # while this one waits for it, then keeps only the cells it did not store
        with group_lock(store, group):
            todo = still_to_do(group, store)
            if todo is not None:
                results, stats = run_group(plan, todo, progress=progress.step)
                write(todo, results, stats)
        progress.finished(group)
    summary.stages["task models"] = time.perf_counter() - t1


def _run_ray(plan: Plan, to_train: list[str], write: Callable, summary: RunSummary,
             bars: bool, store: ResultStore) -> None:
    import contextlib
    import sys

    # Ray's driver prints cluster notes (e.g. "a worker died") to stdout: keep stdout for
    # results (`--json` must stay parseable) by sending them to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        _run_ray_tasks(plan, to_train, write, summary, store)


def _run_ray_tasks(plan: Plan, to_train: list[str], write: Callable,
                   summary: RunSummary, store: ResultStore) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never report over the network
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs Ray: pip install -e \".[ray]\"") from None
    ex = plan.cfg.executor
    started_here = not ray.is_initialized()
    if started_here:
        # log_to_driver=False: worker output must not reach stdout (`--json` stays pure)
        try:
            ray.init(address=ex.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            raise BenchError(f"executor.address={ex.address}: cannot join the Ray cluster "
                             f"({first[:200]})") from None
    try:
        cpus = ex.num_cpus or plan.threads
        _check_cluster(ray, ex, cpus)
        opts = dict(num_cpus=cpus, num_gpus=ex.num_gpus, max_retries=ex.max_retries)
        plan_ref = ray.put(plan)
        t0 = time.perf_counter()
        if to_train:
            log(f"training {', '.join(to_train)} on the Ray cluster")
            ray.get([ray.remote(**opts)(train_sr).remote(plan_ref, n) for n in to_train])
        summary.stages["sr training"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        remote_group = ray.remote(**opts)(run_group)
        progress = Progress(len(plan.groups), False)
        with contextlib.ExitStack() as held:
            pending = {}
            # The driver holds each group's lock (in plan order, as the local executor takes
            # them, so two runs cannot deadlock) from before its submission until its rows are
            # written; a group another run computes is waited for, then only its missing cells
            # are submitted.
            for group in plan.groups:
                lock = contextlib.ExitStack()
                lock.enter_context(group_lock(store, group))
                todo = still_to_do(group, store)
                if todo is None:
                    lock.close()
                    progress.finished(group)
                    continue
                held.callback(lock.close)
                pending[remote_group.remote(plan_ref, todo)] = (todo, lock)
            log(f"submitted {len(pending)} group(s) to Ray ({cpus} CPU, {ex.num_gpus} GPU each)")
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                group, lock = pending.pop(ready[0])
                results, stats = ray.get(ready[0])
                write(group, results, stats)
                lock.close()
                progress.finished(group)
        summary.stages["task models"] = time.perf_counter() - t1
    finally:
        if started_here:
            ray.shutdown()
