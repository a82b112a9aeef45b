"""Turn backend names into ready SR backends, and samples into (LR, Ref) inputs.

A learned backend needs weights: an explicit file (`sr.weights.<name>`), else the cached
result of training it with the profile's budget, else it is trained now and cached (so
`bench run` works on a fresh machine). Reference policy (recorded with every result):
- adjacent: the sample's next frame (SynthSewer sequences, SR-folder Ref images);
- self: the LR image, bicubic-enlarged to Ref size, is its own reference (the paper's choice
  on Pipe and Sewer-ML, which have no sequences);
- auto: adjacent when the dataset has references, else self.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.cache import Cache, key_of
from bench.console import log
from bench.config import BenchConfig
from bench.datasets.base import Sample
from bench.degrade import degrade, depth_down, sample_seed, to_tensor, to_uint8, upsample_to
from bench.errors import BenchError
from sr_backends import BACKENDS
from sr_backends.base import ArchSpec, SRBackend


def make_lr(sample: Sample, cfg: BenchConfig) -> np.ndarray:
    if sample.lr is not None:
        return sample.lr
    return degrade(sample.hr, cfg.degradation, sample_seed(cfg.data.seed, sample.id))


def ref_policy_for(samples: list[Sample], cfg: BenchConfig) -> str:
    has_refs = bool(samples) and all(s.refs for s in samples)
    policy = cfg.sr.ref_policy
    if policy == "auto":
        return "adjacent" if has_refs else "self"
    if policy == "adjacent" and not has_refs:
        raise BenchError(f"sr.ref_policy=adjacent but dataset {cfg.data.dataset!r} has no "
                         "reference images; use ref_policy=self or auto")
    return policy


def reference_for(sample: Sample, lr: np.ndarray, policy: str, scale: int) -> np.ndarray:
    if policy == "adjacent":
        return sample.refs[0]
    h, w = lr.shape[:2]
    return to_uint8(upsample_to(to_tensor(lr), (h * scale, w * scale)))


def depth_for(sample: Sample, policy: str, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground-truth depth of the LR and of the Ref, area-downsampled to LR size, (1,1,h,w)
    metres each; with the `self` policy the Ref is the frame itself, so is its depth."""
    ref_depth = sample.depth if policy == "self" else \
        (sample.ref_depths[0] if sample.ref_depths else None)
    if sample.depth is None or ref_depth is None:
        what = "depth map" if sample.depth is None else "reference depth map"
        raise BenchError(f"sample {sample.id!r} has no {what}, but the backend takes "
                         "ground-truth depth (depth_source='gt'); use a dataset with depth "
                         "(e.g. synthsewer-sr) or depth_source=predicted")
    return (depth_down(sample.depth, scale, sample.id)[None],
            depth_down(ref_depth, scale, sample.id)[None])


def _spec(name: str) -> ArchSpec | type[SRBackend]:
    return BACKENDS.get(name)


def is_learned(name: str) -> bool:
    return isinstance(_spec(name), ArchSpec)


def weights_key(name: str, cfg: BenchConfig) -> str:
    """What determines trained weights: architecture variant, overrides, budget, data."""
    from bench.datasets import open_dataset

    budget = cfg.sr.train
    data = open_dataset(cfg.data.sr_dataset, seed=cfg.data.seed, n_train=budget.n_train,
                        n_val=budget.n_val, n_test=budget.n_test, data_root=cfg.data.sr_data_root)
    from bench.train import backend_overrides, train_ref_policy

    parts = [name, sorted(backend_overrides(name, cfg).items()), budget.model_dump_json(),
             data.fingerprint(), cfg.degradation.fingerprint()]
    policy = train_ref_policy(name, cfg)
    if policy != "auto":  # only then: keys of SISR weights (and of auto) stay as they were
        parts.append(f"ref_policy={policy}")
    return key_of(*parts)


def resolve_backend(name: str, cfg: BenchConfig, cache: Cache, device: str,
                    train_if_missing: bool = True) -> SRBackend:
    target = _spec(name)
    if not isinstance(target, ArchSpec):
        if name == "external":
            path = cfg.sr.weights.get("external")
            if path is None:
                raise BenchError("backend 'external' needs a local checkpoint: "
                                 "--set sr.weights.external=/path/to/model.pth")
            return target(weights=path, device=device)
        return target(scale=cfg.degradation.scale)
    from sr_backends.learned import LearnedBackend

    weights = cfg.sr.weights.get(name)
    if weights is None:
        stem = cache.weights_stem(name, weights_key(name, cfg))
        if stem.with_suffix(".safetensors").exists():
            cache.count("weights_hit")
        elif train_if_missing:
            cache.count("weights_trained")
            log(f"[bold]{name}[/] has no trained weights for this profile/data yet: training it "
                f"now ({cfg.sr.train.iterations} iterations, cached for next time)")
            from bench.train import train_backend

            train_backend(name, cfg, stem, device)
        else:
            raise BenchError(f"backend {name!r} has no trained weights: run `bench train-sr "
                             f"--backend {name}` or pass --set sr.weights.{name}=FILE")
        weights = stem.with_suffix(".safetensors")
    from bench.train import backend_overrides

    return LearnedBackend(name, target, weights, device=device,
                          hparams=backend_overrides(name, cfg), tile=cfg.sr.tile)


@torch.inference_mode()
def upscale_cached(backend: SRBackend, sample: Sample, lr: np.ndarray, policy: str,
                   cache: Cache, context: str) -> np.ndarray:
    """SR output of one sample, from the cache when this exact input was upscaled before.

    The backend gets what it declares it needs: a Ref chosen by `policy` (adjacent | self)
    and, for `needs_depth` backends, the ground-truth depth of LR and Ref."""
    scale = backend.scale
    ref = reference_for(sample, lr, policy, scale) if backend.needs_reference else None
    depth = depth_for(sample, policy, scale) if backend.needs_depth else None
    fp = backend.fingerprint()
    parts = [fp, context, sample.id, key_of(lr.tobytes()),
             key_of(ref.tobytes()) if ref is not None else "-"]
    if depth is not None:  # only then, so keys of depth-free backends stay as they were
        parts.append(key_of(*(d.numpy().tobytes() for d in depth)))
    key = key_of(*parts)
    hit = cache.get_sr(fp, key)
    if hit is not None:
        return hit
    ref_t = to_tensor(ref) if ref is not None else None
    out = to_uint8(backend.upscale(to_tensor(lr), ref_t, depth))
    cache.put_sr(fp, key, out)
    return out
