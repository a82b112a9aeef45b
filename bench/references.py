"""The reference policy of reference-based SR backends — one implementation for training and
for evaluation (DESIGN section 3), recorded with every result.

- adjacent: the sample's next frame (SynthSewer sequences, SR-folder Ref images); every sample
  of the split must have one;
- self: the LR image, bicubic-enlarged to HR size, is its own reference (the paper's choice on
  Pipe and Sewer-ML, which have no sequences, section 5.3): no information beyond the LR;
- auto: adjacent when every sample of the split has a reference, else self. Decided per
  split, never per sample, so one run never mixes the two.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from bench.datasets.base import Sample
from bench.errors import BenchError

POLICIES = ("auto", "adjacent", "self")


def resolve_policy(requested: str, samples: Sequence[Sample], what: str) -> str:
    """"adjacent" or "self" for this split; `what` names the data in the error message."""
    if requested not in POLICIES:
        raise BenchError(f"sr.ref_policy={requested!r}: expected one of {', '.join(POLICIES)}")
    has_refs = len(samples) > 0 and all(s.refs for s in samples)
    if requested == "auto":
        return "adjacent" if has_refs else "self"
    if requested == "adjacent" and not has_refs:
        missing = next((s.id for s in samples if not s.refs), None)
        raise BenchError(f"sr.ref_policy=adjacent but {what} has no reference image"
                         + (f" for sample {missing!r}" if missing else "")
                         + "; use ref_policy=self or auto")
    return requested


def reference_image(sample: Sample, lr: np.ndarray, policy: str, scale: int) -> np.ndarray:
    """uint8 (H, W, 3) reference of `sample` under a resolved policy."""
    from bench.degrade import to_tensor, to_uint8, upsample_to

    if policy == "adjacent":
        return np.asarray(sample.refs[0])
    h, w = lr.shape[:2]
    return to_uint8(upsample_to(to_tensor(lr), (h * scale, w * scale)))


def reference_depth(sample: Sample, policy: str) -> np.ndarray | None:
    """Depth of the reference under a resolved policy: with `self` the Ref is the frame."""
    if policy == "self":
        return sample.depth
    return sample.ref_depths[0] if sample.ref_depths else None
