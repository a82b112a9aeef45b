"""Lazy image variants of a split: HR | LR | SR:<backend>, as sequences read one image at a time.

Nothing is materialised: item i is computed (or read from the SR cache) when asked for, so a
split of any size flows through training and evaluation in bounded memory, and a finished
run upscales nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.backends import ResolvedBackend, make_lr, upscale_cached
from bench.cache import Cache
from bench.config import BenchConfig
from bench.datasets.base import Sample, Target


@dataclass
class VariantContext:
    """What every variant of one run shares."""

    cfg: BenchConfig
    cache: Cache
    device: str
    policy: str        # resolved reference policy (adjacent | self)
    sr_context: str    # bench.backends.sr_context(...)
    backends: dict[str, ResolvedBackend]

    def __post_init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def backend(self, name: str):
        """The SRBackend of `name`, loaded once per process."""
        if name not in self._loaded:
            self._loaded[name] = self.backends[name].create(self.cache, self.device, self.cfg)
        return self._loaded[name]


class VariantImages(Sequence):
    """uint8 (H, W, 3) images of one variant of `samples`, computed on access."""

    def __init__(self, samples: Sequence[Sample], variant: str, ctx: VariantContext):
        if variant not in ("HR", "LR") and not variant.startswith("SR:"):
            raise ValueError(f"unknown variant {variant!r}")
        self.samples, self.variant, self.ctx = samples, variant, ctx

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        sample = self.samples[i]
        if self.variant == "HR":
            return sample.hr
        lr = make_lr(sample, self.ctx.cfg)
        if self.variant == "LR":
            from bench.degrade import to_tensor, to_uint8, upsample_to

            return to_uint8(upsample_to(to_tensor(lr), sample.hr.shape[:2]))
        backend = self.ctx.backend(self.variant[3:])
        return upscale_cached(backend, sample, lr, self.ctx.policy, self.ctx.cache,
                              self.ctx.sr_context)


class Targets(Sequence):
    """The targets of `samples`, read one at a time."""

    def __init__(self, samples: Sequence[Sample]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i) -> Target:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]  # type: ignore[return-value]
        return self.samples[i].target


def sr_output_counts(samples: Sequence[Sample], variant: str, ctx: VariantContext) -> int:
    """How many SR outputs of `variant` over `samples` are already in the cache."""
    from bench.backends import sr_cache_key

    backend = ctx.backend(variant[3:])
    fp = backend.fingerprint()
    hits = 0
    for s in samples:
        key = sr_cache_key(backend, s, make_lr(s, ctx.cfg), ctx.policy, ctx.sr_context)
        hits += ctx.cache.has_sr(fp, key)
    return hits
