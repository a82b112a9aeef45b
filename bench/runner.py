"""The main job: dataset -> degrade -> variants (HR | LR | SR:<backend>) -> task -> store.

Protocols (recorded in every row):
- train-on-hr (default): each task model is trained once on the HR training split and
  evaluated on every variant of the test split (same weights, several inputs);
- train-per-variant: a model is trained and tested on each variant.

Units of work are *cells* (model, seed, trained-on, evaluated-on). A cell's rows are appended
atomically, so after Ctrl-C or kill -9 the same command skips finished cells and recomputes
only the rest. Trained task models and SR outputs come from the content-addressed cache, so
a fresh run of an already-computed config trains nothing and upscales nothing.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm import tqdm

from bench.backends import make_lr, ref_policy_for, resolve_backend, upscale_cached
from bench.cache import Cache, key_of
from bench.config import BenchConfig
from bench.datasets import open_dataset
from bench.datasets.base import Sample
from bench.degrade import to_tensor, to_uint8, upsample_to
from bench.store import ResultStore, Row, cell_id
from tasks import TASK_MODELS
from tasks.base import FitConfig, TaskModel


@dataclass
class RunSummary:
    run_id: str
    cells_total: int = 0
    cells_computed: int = 0
    seconds: float = 0.0
    cache: dict[str, int] = field(default_factory=dict)
    ref_policy: str = ""


class _Variants:
    """Lazily built image variants of one split, so a finished run upscales nothing."""

    def __init__(self, samples: list[Sample], cfg: BenchConfig, cache: Cache, device: str,
                 context: str, policy: str, progress: bool):
        self.samples, self.cfg, self.cache, self.device = samples, cfg, cache, device
        self.context, self.policy, self.progress = context, policy, progress
        self._images: dict[str, list[np.ndarray]] = {}
        self._lr: list[np.ndarray] | None = None
        self.fingerprints: dict[str, str] = {}
        self.uses_reference: dict[str, bool] = {}

    def lr(self) -> list[np.ndarray]:
        if self._lr is None:
            self._lr = [make_lr(s, self.cfg) for s in self.samples]
        return self._lr

    def images(self, variant: str) -> list[np.ndarray]:
        if variant not in self._images:
            self._images[variant] = self._build(variant)
        return self._images[variant]

    def _build(self, variant: str) -> list[np.ndarray]:
        if variant == "HR":
            return [s.hr for s in self.samples]
        if variant == "LR":
            return [to_uint8(upsample_to(to_tensor(lr), s.hr.shape[:2]))
                    for lr, s in zip(self.lr(), self.samples)]
        name = variant.split(":", 1)[1]
        backend = resolve_backend(name, self.cfg, self.cache, self.device)
        self.fingerprints[variant] = backend.fingerprint()
        self.uses_reference[variant] = backend.needs_reference
        out = []
        for lr, s in tqdm(list(zip(self.lr(), self.samples)), desc=f"upscale {name}",
                          disable=not self.progress, leave=False):
            out.append(upscale_cached(backend, s, lr, self.policy, self.cache, self.context))
        return out


def _fit_config(cfg: BenchConfig, seed: int, device: str) -> FitConfig:
    t = cfg.task
    return FitConfig(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, image_size=t.image_size,
                     size=t.size, seed=seed, device=device)


def _train_cached(model_name: str, fit: FitConfig, images: Callable[[], list[np.ndarray]],
                  targets: list, classes: list[str], key: str, cache: Cache,
                  progress: bool) -> TaskModel:
    model: TaskModel = TASK_MODELS.get(model_name)()
    path = cache.task_dir(key) / "model.safetensors"
    if path.exists():
        model.load(path)
        cache.count("task_hit")
        return model
    bar = tqdm(total=1, desc=f"train {model_name}", disable=not progress, leave=False)

    def report(step: int, total: int, text: str) -> None:
        bar.total = total
        bar.n = step
        bar.set_postfix_str(text)
        bar.refresh()

    model.fit(images(), targets, classes, fit, progress=report)
    bar.close()
    model.save(path)
    cache.count("task_trained")
    return model


def _fault_injection(cells_done: int) -> None:
    """Test hook: SEWER_BENCH_KILL_AFTER_CELLS=N makes the run SIGKILL itself after N cells,
    so the kill -9 resume test is deterministic instead of racing a timer."""
    limit = os.environ.get("SEWER_BENCH_KILL_AFTER_CELLS")
    if limit and cells_done >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def run_task(cfg: BenchConfig, store: ResultStore, cache: Cache, device: str,
             progress: bool = True) -> RunSummary:
    start = time.perf_counter()
    task = cfg.task.name
    dataset = open_dataset(cfg.data.dataset, seed=cfg.data.seed, n_train=cfg.data.n_train,
                           n_val=cfg.data.n_val, n_test=cfg.data.n_test, data_root=cfg.data.data_root)
    classes = list(dataset.classes)
    train, test = list(dataset.split("train")), list(dataset.split("test"))
    policy = ref_policy_for(test, cfg)
    context = f"{dataset.fingerprint()}|{cfg.degradation.fingerprint()}|{policy}"
    variant_names = ["HR", "LR"] + [f"SR:{b}" for b in cfg.sr.backends]
    test_v = _Variants(test, cfg, cache, device, context, policy, progress)
    train_v = _Variants(train, cfg, cache, device, context, policy, progress)
    per_variant = cfg.task.protocol == "train-per-variant"
    done = store.done_cells()
    summary = RunSummary(store.run_id, ref_policy=policy)

    for model_name in cfg.task.models:
        full_name = f"{task}/{model_name}"
        TASK_MODELS.check(full_name)
        for seed in cfg.seeds:
            for trained_on in (variant_names if per_variant else ["HR"]):
                evaluated_on = [trained_on] if per_variant else variant_names
                cells = {v: cell_id(task, model_name, seed, trained_on, v) for v in evaluated_on}
                summary.cells_total += len(cells)
                todo = [v for v in evaluated_on if cells[v] not in done]
                if not todo:
                    continue
                fit = _fit_config(cfg, seed, device)
                train_images = lambda tv=trained_on: train_v.images(tv)  # noqa: E731
                if trained_on.startswith("SR:"):
                    train_images()  # resolves the backend so its fingerprint joins the key
                key = key_of(full_name, fit, dataset.fingerprint(), trained_on, classes,
                             cfg.degradation.fingerprint() if trained_on != "HR" else "-",
                             train_v.fingerprints.get(trained_on, "-"))
                model = _train_cached(full_name, fit, train_images, [s.target for s in train],
                                      classes, key, cache, progress)
                for variant in todo:
                    metrics = model.evaluate(test_v.images(variant), [s.target for s in test], classes)
                    ref = policy if test_v.uses_reference.get(variant) else ""
                    rows = [Row(store.run_id, dataset.name, task, model_name, variant, m.cls,
                                m.metric, m.value, seed, cfg.task.protocol, ref, m.higher_is_better)
                            for m in metrics]
                    store.append(cells[variant], rows)
                    summary.cells_computed += 1
                    _fault_injection(summary.cells_computed)
    summary.seconds = time.perf_counter() - start
    summary.cache = dict(cache.stats)
    return summary
