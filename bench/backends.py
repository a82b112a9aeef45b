"""Backend names -> `ResolvedBackend`s, once, at the boundary; samples -> (LR, Ref, depth).

`resolve_backends(names, cfg)` checks everything the config says about SR backends before any
work starts (one line and exit 2 for a mistake): registered names (did-you-mean), every
`sr.hparams.<name>` key against the model's constructor, every `sr.weights.<name>` entry
(registered, an existing file, actually used), and a file for backends that need one. The
result says where each backend's weights come from:
- an explicit file (`sr.weights.<name>`);
- the content-addressed cache, keyed by `weights_key` (architecture variant, overrides, the
  `sr.train` settings, the training data's fingerprint, degradation, reference policy); a
  missing entry is trained first (bench/training/harness.py), so `bench run` works on a fresh
  machine;
- nothing (fixed backends such as bicubic).
Everything downstream (plan, executors, eval-sr, plots) takes the resolved objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.cache import Cache, key_of
from bench.config import BenchConfig
from bench.datasets.base import Sample
from bench.errors import BenchError, ConfigError
from bench.references import reference_depth, reference_image, resolve_policy
from bench.registry import LookedUpOnce, did_you_mean


@dataclass(frozen=True)
class ResolvedBackend:
    name: str
    spec: Any                      # sr_backends.base.BackendSpec
    hparams: dict[str, Any] = field(default_factory=dict)   # overrides of spec.hparams
    weights_file: Path | None = None                          # the user's file
    weights_key: str | None = None                            # harness-trained weights
    train_policy: str = "auto"
    teacher: "ResolvedBackend | None" = None                   # a distilled backend's teacher
    task_driven: Any = None  # bench.task_driven.TaskDrivenTarget of a task-driven variant
    train: Any = None        # its SRTrainSettings: sr.train + sr.train_by_backend.<name>
    weights_name: str | None = None  # the name its weights file is under (None: `name`);
    # BASE+td-s2t's SR weights are BASE+td-frozen's, so the two share one file

    @property
    def weights_label(self) -> str:
        return self.weights_name or self.name

    @property
    def needs_reference(self) -> bool:
        return self.spec.needs_reference

    @property
    def needs_depth(self) -> bool:
        return self.spec.needs_depth(self.hparams)

    @property
    def trainable(self) -> bool:
        return self.spec.trainable

    @property
    def exportable(self) -> bool:
        return self.spec.exportable

    @property
    def trained_by_harness(self) -> bool:
        return self.weights_key is not None

    def weights_stem(self, cache: Cache) -> Path:
        assert self.weights_key is not None
        return cache.weights_stem(self.weights_label, self.weights_key)

    def has_weights(self, cache: Cache) -> bool:
        if not self.trained_by_harness:
            return True
        return self.weights_stem(cache).with_suffix(".safetensors").exists()

    def weights_path(self, cache: Cache) -> Path | None:
        """The weights file this backend uses (None: a fixed backend)."""
        if self.trained_by_harness:
            return self.weights_stem(cache).with_suffix(".safetensors")
        return self.weights_file

    def train_command(self) -> str:
        if self.spec.distill is not None:
            return f"bench distill --student {self.spec.distill.student} --teacher " \
                   f"{self.teacher.name if self.teacher else self.spec.distill.teacher}"
        return f"bench train-sr --backend {self.name}"

    def create(self, cache: Cache, device: str, cfg: BenchConfig):
        """The ready SRBackend; a harness-trained backend must have its weights by now."""
        from bench.interrupt import config_flags
        weights = self.weights_path(cache)
        if self.trained_by_harness and not weights.exists():
            raise BenchError(f"backend {self.name!r} has no trained weights: run "
                             f"`{self.train_command()}{config_flags()}` or pass --set "
                             f"sr.weights.{self.name}=FILE")
        return self.spec.create(self.name, weights=weights, device=device, hparams=self.hparams,
                                tile=cfg.sr.tile, scale=cfg.degradation.scale)


def _check_hparams(cfg: BenchConfig, registry) -> None:
    for name, overrides in cfg.sr.hparams.items():
        if name not in registry:
            raise ConfigError(f"sr.hparams.{name}: unknown backend {name!r}."
                              f"{did_you_mean(name, registry.names())}")
        spec = registry.get(name)
        if not spec.trainable:
            raise ConfigError(f"sr.hparams.{name}: backend {name!r} has no hyper-parameters")
        known = spec.hparam_names()
        for key in overrides:
            if key not in known:
                raise ConfigError(f"sr.hparams.{name}.{key}: not a hyper-parameter of {name!r}."
                                  f"{did_you_mean(key, known)} Known: {', '.join(sorted(known))}")


# sr.train fields a backend may not change alone: the SR training data and the process layout
# are shared by every backend of a run (one data fingerprint, one torchrun world).
SHARED_TRAIN_FIELDS = ("n_train", "n_val", "world_size", "objective")


def _check_train_by_backend(cfg: BenchConfig, registry) -> None:
    from bench.training.config import SRTrainSettings

    known = set(SRTrainSettings.model_fields)
    for name, overrides in cfg.sr.train_by_backend.items():
        where = f"sr.train_by_backend.{name}"
        if name not in registry:
            raise ConfigError(f"{where}: unknown backend {name!r}."
                              f"{did_you_mean(name, registry.names())}")
        if not registry.get(name).trainable:
            raise ConfigError(f"{where}: backend {name!r} is not trained")
        for key in overrides:
            if key in SHARED_TRAIN_FIELDS:
                raise ConfigError(f"{where}.{key}: shared by every backend; set sr.train.{key}")
            if key not in known:
                raise ConfigError(f"{where}.{key}: not an sr.train setting."
                                  f"{did_you_mean(key, known)}")
        train_settings(cfg, name)  # a bad value fails here, naming the key


def train_settings(cfg: BenchConfig, name: str):  # type: ignore[no-untyped-def]
    """`sr.train` with `sr.train_by_backend.<name>` applied (an SRTrainSettings)."""
    from pydantic import ValidationError

    from bench.training.config import SRTrainSettings

    overrides = cfg.sr.train_by_backend.get(name)
    if not overrides:
        return cfg.sr.train
    try:
        return SRTrainSettings.model_validate({**cfg.sr.train.model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"sr.train_by_backend.{name}.{key}: {err['msg']} "
                          f"(got {err.get('input')!r})") from None


def _teacher_names(names: Sequence[str], cfg: BenchConfig, registry) -> dict[str, str]:
    """Distilled backend -> its teacher (`sr.distill.teacher`, else the spec's default)."""
    from bench.training.distill import check_teacher
    out = {}
    for name in names:
        distill = registry.get(name).distill
        if distill is None:
            continue
        teacher = cfg.sr.distill.teacher or distill.teacher
        if teacher not in registry:
            raise ConfigError(f"sr.distill.teacher: unknown backend {teacher!r}."
                              f"{did_you_mean(teacher, registry.names())}")
        check_teacher(name, teacher, registry)
        t_spec = registry.get(teacher)
        if not t_spec.trainable or t_spec.distill is not None:
            raise ConfigError(f"sr.distill.teacher={teacher}: a teacher must be a learned "
                              "backend trained directly (e.g. dsrnet-plus, dsrnet)")
        if t_spec.needs_reference != registry.get(name).needs_reference:
            raise ConfigError(f"sr.distill.teacher={teacher}: {name!r} and its teacher must "
                              "both be reference-based or both not")
        out[name] = teacher
    return out


def _check_weights(cfg: BenchConfig, names: Sequence[str], registry) -> None:
    for name, path in cfg.sr.weights.items():
        if name not in registry:
            raise ConfigError(f"sr.weights.{name}: unknown backend {name!r}."
                              f"{did_you_mean(name, registry.names())}")
        if not registry.get(name).takes_weights:
            raise ConfigError(f"sr.weights.{name}: backend {name!r} takes no weights")
        if name not in names:
            raise ConfigError(f"sr.weights.{name}={path}: backend {name!r} is not used by this "
                              f"command (backends: {', '.join(names)}); remove the entry or add "
                              "the backend")
        if not Path(path).is_file():
            raise ConfigError(f"sr.weights.{name}={path}: file not found")


def check_backend_names(names: Sequence[str]) -> None:
    """Each name is a registered backend (did-you-mean otherwise); nothing is built."""
    from sr_backends import BACKENDS
    from bench.task_driven import parse_name  # "BASE+td[-PROTOCOL]": BASE is the backend

    for name in names:
        BACKENDS.check((parse_name(name) or (name,))[0])


def resolve_backends(names: Sequence[str], cfg: BenchConfig,
                     random_weights: bool = False) -> list[ResolvedBackend]:
    """Check the SR part of the config once and resolve every name (see module doc).
    `random_weights`: for uses that build models with random weights (`bench cost`, `bench
    perf backend`): no weights are looked up, so no training data is opened."""
    from sr_backends import BACKENDS as registry
    from bench import task_driven  # names "BASE+td[-PROTOCOL]", objective task-driven

    if task_driven.wanted(names, cfg):
        return task_driven.resolve(names, cfg, resolve_backends, random_weights)
    BACKENDS = LookedUpOnce(registry)  # each spec looked up once (onnx:FILE reads its file)
    for name in names:
        BACKENDS.check(name)
    if len(set(names)) != len(names):
        raise ConfigError(f"backends listed twice: {', '.join(names)}")
    _check_hparams(cfg, BACKENDS)
    _check_train_by_backend(cfg, BACKENDS)
    teachers = _teacher_names(names, cfg, BACKENDS)
    used = list(names) + [t for t in dict.fromkeys(teachers.values()) if t not in names]
    _check_weights(cfg, used, BACKENDS)
    resolved = {name: _resolve_one(name, cfg, BACKENDS, None, random_weights) for name in used
                if name not in teachers}
    for name, teacher in teachers.items():
        resolved[name] = _resolve_one(name, cfg, BACKENDS, resolved[teacher], random_weights)
    return [resolved[name] for name in names]


def _resolve_one(name: str, cfg: BenchConfig, registry, teacher: ResolvedBackend | None,
                 random_weights: bool = False) -> ResolvedBackend:
    spec = registry.get(name)
    hparams = {**(spec.tiny if cfg.sr.tiny else {}), **cfg.sr.hparams.get(name, {})}
    policy = cfg.sr.ref_policy if spec.needs_reference else "auto"
    # a parametrised name ("onnx:FILE") carries its file
    weights = cfg.sr.weights.get(name) or registry.argument(name)
    if spec.needs_weights_file and weights is None:
        raise ConfigError(f"backend {name!r} needs a local checkpoint: --set "
                          f"sr.weights.{name}=/path/to/model.pth")
    key = None
    train = train_settings(cfg, name) if spec.trainable else None
    if spec.trainable and weights is None and not random_weights:
        key = weights_key(name, hparams, policy, cfg, train, spec.revision)
        if teacher is not None:  # what the teacher is, and how it is distilled
            key = key_of(key, teacher_identity(teacher),
                         cfg.sr.distill.model_dump_json(exclude={"teacher"}))
    return ResolvedBackend(name, spec, hparams if spec.trainable else {},
                           Path(weights) if weights is not None else None, key, policy,
                           teacher if weights is None else None, train=train)


def teacher_identity(teacher: ResolvedBackend) -> str:
    """The teacher's weights: their cache key, or the content of the user's file."""
    if teacher.weights_key is not None:
        return f"{teacher.name}:{teacher.weights_key}"
    from sr_backends.weights import sha256_file, tensor_file

    return f"{teacher.name}:{sha256_file(tensor_file(teacher.weights_file))}"


def sr_training_data(cfg: BenchConfig):
    """The dataset learned backends train on. A generated one is opened without a test split:
    how many frames `eval-sr` scores is not part of what the weights are."""
    from bench.datasets import open_dataset

    t = cfg.sr.train
    return open_dataset(cfg.data.sr_dataset, seed=cfg.data.seed, n_train=t.n_train,
                        n_val=t.n_val, n_test=0, data_root=cfg.data.sr_data_root)


def weights_key(name: str, hparams: dict[str, Any], policy: str, cfg: BenchConfig,
                train=None, revision: int = 0) -> str:  # type: ignore[no-untyped-def]
    """What determines trained weights: variant, overrides, training settings (`train`: this
    backend's, default sr.train), data, policy and the spec's code `revision`."""
    parts = [name, sorted(hparams.items()), (train or cfg.sr.train).identity_json(),
             sr_training_data(cfg).fingerprint(), cfg.degradation.fingerprint()]
    if revision:  # 0 keeps the keys of specs that never changed
        parts.append(f"revision={revision}")
    if policy != "auto":
        parts.append(f"ref_policy={policy}")
    return key_of(*parts)


def make_lr(sample: Sample, cfg: BenchConfig) -> np.ndarray:
    from bench.degrade import degrade, sample_seed

    if sample.lr is not None:
        return sample.lr
    return degrade(sample.hr, cfg.degradation, sample_seed(cfg.data.seed, sample.id))


def ref_policy_for(samples: Sequence[Sample], cfg: BenchConfig) -> str:
    """The evaluation policy: sr.eval_ref_policy, else sr.ref_policy (which also trains)."""
    requested = cfg.sr.eval_ref_policy or cfg.sr.ref_policy
    return resolve_policy(requested, samples, f"dataset {cfg.data.dataset!r}")


def sr_context(dataset_fingerprint: str, cfg: BenchConfig, policy: str) -> str:
    """What, besides the backend and the sample, determines an SR output: the data, the
    degradation and the reference policy. The one definition of the SR-cache context."""
    return f"{dataset_fingerprint}|{cfg.degradation.fingerprint()}|{policy}"


def depth_for(sample: Sample, policy: str, scale: int):
    """Ground-truth depth of the LR and of the Ref, area-downsampled to LR size, (1,1,h,w)
    metres each; with the `self` policy the Ref is the frame itself, so is its depth."""
    from bench.degrade import depth_down

    ref_depth = reference_depth(sample, policy)
    if sample.depth is None or ref_depth is None:
        what = "depth map" if sample.depth is None else "reference depth map"
        raise BenchError(f"sample {sample.id!r} has no {what}, but the backend takes "
                         "ground-truth depth (depth_source='gt'); use a dataset with depth "
                         "(e.g. synthsewer-sr) or depth_source=predicted")
    return (depth_down(sample.depth, scale, sample.id)[None],
            depth_down(ref_depth, scale, sample.id)[None])


def _inputs(backend, sample: Sample, lr: np.ndarray, policy: str):
    scale = backend.scale
    ref = reference_image(sample, lr, policy, scale) if backend.needs_reference else None
    depth = depth_for(sample, policy, scale) if backend.needs_depth else None
    return ref, depth


def sr_cache_key(backend, sample: Sample, lr: np.ndarray, policy: str, context: str,
                 inputs: tuple | None = None) -> str:
    """The SR cache key of one output: backend fingerprint, context, sample, exact inputs."""
    ref, depth = inputs if inputs is not None else _inputs(backend, sample, lr, policy)
    parts = [backend.fingerprint(), context, sample.id, key_of(lr.tobytes()),
             key_of(ref.tobytes()) if ref is not None else "-"]
    if depth is not None:  # only then, so keys of depth-free backends stay as they were
        parts.append(key_of(*(d.numpy().tobytes() for d in depth)))
    return key_of(*parts)


def upscale_cached(backend, sample: Sample, lr: np.ndarray, policy: str,
                   cache: Cache, context: str) -> np.ndarray:
    """SR output of one sample, from the cache when this exact input was upscaled before.

    The backend gets what it declares it needs: a Ref chosen by `policy` (adjacent | self)
    and, for `needs_depth` backends, the ground-truth depth of LR and Ref."""
    import torch

    from bench.degrade import to_tensor, to_uint8
    from sr_backends.onnx_runtime import check_sr_output

    ref, depth = inputs = _inputs(backend, sample, lr, policy)
    fp = backend.fingerprint()
    key = sr_cache_key(backend, sample, lr, policy, context, inputs)
    hit = cache.get_sr(fp, key)
    if hit is not None:
        return hit
    with torch.inference_mode():
        ref_t = to_tensor(ref) if ref is not None else None
        sr = backend.upscale(to_tensor(lr), ref_t, depth)
        check_sr_output(backend.name, to_tensor(lr), sr, backend.scale)  # before it is cached
        out = to_uint8(sr)
    cache.put_sr(fp, key, out)
    return out
