"""Image variants of a split: the typed `Variant` (HR | LR | SR with its backend) and lazy
sequences of a variant's images, read one image at a time.

`Variant` is the one place a variant's label ("HR", "LR", "SR:<backend>") is rendered and
parsed; stored rows and cache keys hold that label, everything else holds the value.

Nothing is materialised: item i is computed (or read from the SR cache) when asked for, so a
split of any size flows through training and evaluation in bounded memory, and a finished
run upscales nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bench.backends import ResolvedBackend
    from bench.cache import Cache
    from bench.config import BenchConfig
    from bench.datasets.base import Sample, Target

_SR_PREFIX = "SR:"


@dataclass(frozen=True)
class Variant:
    """HR | LR | SR:<backend>. `resolved` (the SR backend's `ResolvedBackend`, when known)
    rides along but takes no part in equality or hashing: a variant is its label."""

    kind: Literal["HR", "LR", "SR"]
    backend: str | None = None
    resolved: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("HR", "LR", "SR"):
            raise ValueError(f"unknown variant kind {self.kind!r}")
        if (self.kind in ("SR",)) != bool(self.backend):
            raise ValueError(f"variant {self.kind}: backend {self.backend!r}")

    @classmethod
    def sr(cls, backend: "str | ResolvedBackend") -> "Variant":
        if isinstance(backend, str):
            return cls("SR", backend)
        return cls("SR", backend.name, backend)

    @classmethod
    def parse(cls, label: str) -> "Variant":
        """"HR" | "LR" | "SR:<backend>" -> Variant; anything else is a ValueError."""
        if label in ("HR", "LR"):
            return cls(label)  # type: ignore[arg-type]
        if isinstance(label, str) and label.startswith(_SR_PREFIX) and len(label) > 3:
            return cls("SR", label[len(_SR_PREFIX):])
        raise ValueError(f"unknown variant {label!r} (expected HR, LR or SR:<backend>)")

    @property
    def label(self) -> str:
        return _SR_PREFIX + str(self.backend) if self.is_sr else self.kind

    @property
    def is_sr(self) -> bool:
        return self.backend is not None

    @property
    def needs_reference(self) -> bool:
        """An SR variant whose (resolved) backend takes a reference image."""
        return self.is_sr and bool(getattr(self.resolved, "needs_reference", False))

    def __str__(self) -> str:
        return self.label


HR = Variant("HR")
LR = Variant("LR")


def is_sr_label(label: str) -> bool:
    """Whether a stored variant label is an SR one."""
    return isinstance(label, str) and label.startswith(_SR_PREFIX)


def sr_label(backend: str) -> str:
    """The stored label of backend's SR variant ("SR:<backend>")."""
    return Variant.sr(backend).label


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

    def __init__(self, samples: Sequence[Sample], variant: Variant, ctx: VariantContext):
        if not isinstance(variant, Variant):
            raise TypeError(f"expected a Variant, got {variant!r}")
        self.samples, self.variant, self.ctx = samples, variant, ctx

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        from bench.backends import make_lr, upscale_cached

        sample = self.samples[i]
        if self.variant == HR:
            return sample.hr
        lr = make_lr(sample, self.ctx.cfg)
        if self.variant == LR:
            from bench.degrade import to_tensor, to_uint8, upsample_to

            return to_uint8(upsample_to(to_tensor(lr), sample.hr.shape[:2]))
        backend = self.ctx.backend(self.variant.backend)
        return upscale_cached(backend, sample, lr, self.ctx.policy, self.ctx.cache,
                              self.ctx.sr_context)


class Targets(Sequence):
    """The targets of `samples`, read one at a time."""

    def __init__(self, samples: Sequence[Sample]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i) -> "Target":  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]  # type: ignore[return-value]
        return self.samples[i].target


def sr_output_counts(samples: Sequence[Sample], variant: Variant, ctx: VariantContext) -> int:
    """How many SR outputs of `variant` over `samples` are already in the cache."""
    from bench.backends import make_lr, sr_cache_key

    backend = ctx.backend(variant.backend)
    fp = backend.fingerprint()
    hits = 0
    for s in samples:
        key = sr_cache_key(backend, s, make_lr(s, ctx.cfg), ctx.policy, ctx.sr_context)
        hits += ctx.cache.has_sr(fp, key)
    return hits
