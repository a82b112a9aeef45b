"""Training pairs from `Sample`s: LR/HR(/Ref/depth) tensors, patch batches, validation items.

Determinism: the batch of iteration `i` on rank `r` is a pure function of (seed, i, r) — the
sample choice, crop position and augmentation come from a generator seeded by that triple.
So a resumed run sees exactly the batches an uninterrupted run would, with any number of
DataLoader workers, and DDP ranks draw different patches without coordinating.

Layouts: images are kept as uint8 (C, H, W) tensors (4x less memory than float) and turned
into float [0, 1] only per batch. Depth maps (metres) are area-downsampled to LR size by
average pooling over the scale x scale cells, which is exact area resampling when the size
divides by the scale (it always does: the degradation requires it).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from bench.datasets.base import Sample
from bench.degrade import DegradationConfig, degrade, depth_down, sample_seed
from bench.errors import ConfigError, DataError
from bench.references import reference_depth, reference_image, resolve_policy


@dataclass
class PairSet:
    """One split, ready for training or validation (lists indexed like the samples)."""

    ids: list[str]
    lr: list[torch.Tensor]                      # uint8 (3, h, w)
    hr: list[torch.Tensor]                      # uint8 (3, s*h, s*w)
    scale: int
    ref: list[torch.Tensor] | None = None       # uint8 (3, s*h, s*w), reference-based only
    depth_lr: list[torch.Tensor] | None = None  # float32 (1, h, w)
    depth_ref_down: list[torch.Tensor] | None = None  # float32 (1, h, w)
    ref_policy: str = "none"                    # "adjacent" | "self" | "none" (SISR)
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.ids)


def _chw_u8(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()


def prepare_pairs(samples: Sequence[Sample], *, degradation: DegradationConfig, seed: int,
                  scale: int, needs_reference: bool, ref_policy: str = "auto") -> PairSet:
    """Degrade (or take the sample's own LR), pick the reference, downsample the depth.

    Reference policy (the harness's `sr.ref_policy`, DESIGN section 3): "adjacent" takes
    `refs[0]` (e.g. the next frame) and requires one; "self" uses the LR image brought to HR
    size by bicubic (no information beyond the LR: the control of the Table 10 comparison);
    "auto" is decided for the whole split (bench.references.resolve_policy, the same rule as
    evaluation): adjacent when every sample has a reference, else self.
    """
    if degradation.scale != scale:
        raise ConfigError(f"train-sr: degradation.scale={degradation.scale} but the backend "
                          f"is x{scale}")
    policy = resolve_policy(ref_policy, samples, "the SR training data") if needs_reference \
        else "none"
    h = hashlib.sha256(f"pairs|{degradation.fingerprint()}|{seed}|{scale}".encode())
    ids, lrs, hrs, refs, dls, drs = [], [], [], [], [], []
    for s in samples:
        hr = np.asarray(s.hr)
        if hr.ndim != 3 or hr.shape[2] != 3 or hr.dtype != np.uint8:
            raise DataError(s.id, f"hr must be uint8 (H, W, 3), got {hr.dtype} {hr.shape}")
        if s.lr is not None:
            lr = np.asarray(s.lr)
            if lr.shape != (hr.shape[0] // scale, hr.shape[1] // scale, 3) or \
                    hr.shape[0] % scale or hr.shape[1] % scale:
                raise DataError(s.id, f"lr {lr.shape} is not hr {hr.shape} / {scale}")
        else:
            lr = degrade(hr, degradation, sample_seed(seed, s.id))
        h.update(s.id.encode()); h.update(hr.tobytes()); h.update(lr.tobytes())
        ids.append(s.id)
        lrs.append(_chw_u8(lr))
        hrs.append(_chw_u8(hr))
        dls.append(None if s.depth is None else depth_down(s.depth, scale, s.id))
        if not needs_reference:
            continue
        ref = reference_image(s, lr, policy, scale)
        if ref.shape != hr.shape:
            raise DataError(s.id, f"reference {ref.shape} differs from hr {hr.shape}")
        refs.append(_chw_u8(ref))
        rd = reference_depth(s, policy)
        drs.append(None if rd is None else depth_down(rd, scale, s.id))
        h.update(refs[-1].numpy().tobytes())
    all_depth = bool(dls) and all(d is not None for d in dls)
    all_ref_depth = needs_reference and bool(drs) and all(d is not None for d in drs)
    return PairSet(
        ids=ids, lr=lrs, hr=hrs, scale=scale,
        ref=refs if needs_reference else None,
        depth_lr=dls if all_depth else None,  # a key is in the batch only if every sample has it
        depth_ref_down=drs if all_ref_depth else None,
        ref_policy=policy,
        fingerprint=h.hexdigest()[:16],
    )


def aligned_window(h: int, w: int, align: int, crop: int | None = None) -> tuple[int, int, int, int]:
    """Centre window (y0, x0, hh, ww) in LR pixels: at most `crop`, sides multiples of `align`."""
    hh, ww = (min(h, crop), min(w, crop)) if crop else (h, w)
    hh, ww = hh - hh % align, ww - ww % align
    if hh <= 0 or ww <= 0:
        raise ConfigError(f"train-sr: LR frame {h}x{w} is smaller than the {align}-pixel "
                          f"alignment the backend needs")
    return (h - hh) // 2, (w - ww) // 2, hh, ww


def iteration_seed(seed: int, iteration: int, rank: int = 0) -> int:
    """A 63-bit seed for (seed, iteration, rank); independent streams, order-free."""
    digest = hashlib.sha256(f"sr-train|{seed}|{iteration}|{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _crop(pairs: PairSet, i: int, y: int, x: int, ph: int, pw: int) -> dict[str, torch.Tensor]:
    s = pairs.scale
    out = {"lr": pairs.lr[i][:, y:y + ph, x:x + pw],
           "hr": pairs.hr[i][:, s * y:s * (y + ph), s * x:s * (x + pw)]}
    if pairs.ref is not None:  # same window on the Ref (see config.py for why)
        out["ref"] = pairs.ref[i][:, s * y:s * (y + ph), s * x:s * (x + pw)]
    if pairs.depth_lr is not None:
        out["depth_lr"] = pairs.depth_lr[i][:, y:y + ph, x:x + pw]
    if pairs.depth_ref_down is not None:
        out["depth_ref_down"] = pairs.depth_ref_down[i][:, y:y + ph, x:x + pw]
    return out


def _to_batch(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    batch = {}
    for key in items[0]:
        t = torch.stack([it[key] for it in items]).contiguous()
        batch[key] = t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
    return batch


class PatchBatches(torch.utils.data.Dataset):
    """`batches[i]` is the training batch of iteration i (a dict of float tensors)."""

    def __init__(self, pairs: PairSet, *, batch_size: int, patch_size: int | None, seed: int,
                 rank: int = 0, augment: bool = True, align: int = 1):
        if not len(pairs):
            raise ConfigError("train-sr: the training split is empty")
        self.pairs, self.batch_size, self.seed, self.rank = pairs, batch_size, seed, rank
        self.augment, self.patch_size = augment, patch_size
        sizes = {tuple(t.shape[-2:]) for t in pairs.lr}
        if patch_size is None:
            if len(sizes) > 1:
                raise ConfigError(f"train-sr: patch_size null (whole frames) needs equal frame "
                                  f"sizes, got LR sizes {sorted(sizes)}")
            self.window = aligned_window(*sizes.pop(), align)
        else:
            if patch_size % align:
                raise ConfigError(f"train-sr: bad value for 'patch_size': {patch_size} must be "
                                  f"a multiple of {align} LR pixels for this backend")
            small = [s for s in sizes if min(s) < patch_size]
            if small:
                raise ConfigError(f"train-sr: bad value for 'patch_size': {patch_size} exceeds "
                                  f"the LR frame size {small[0][0]}x{small[0][1]}")
            self.window = None

    def __len__(self) -> int:  # iterations are addressed by index; any index is valid
        return 2**31 - 1

    def __getitem__(self, iteration: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(iteration_seed(self.seed, int(iteration), self.rank))
        idx = torch.randint(len(self.pairs), (self.batch_size,), generator=g).tolist()
        items = []
        for i in idx:
            # always draw the same numbers so streams never depend on sizes or options
            u = torch.rand(2, generator=g).tolist()
            aug = int(torch.randint(8, (1,), generator=g))
            if self.window is not None:
                y, x, ph, pw = self.window
            else:
                h, w = self.pairs.lr[i].shape[-2:]
                ph = pw = self.patch_size
                y, x = int(u[0] * (h - ph + 1)), int(u[1] * (w - pw + 1))
            item = _crop(self.pairs, i, y, x, ph, pw)
            if self.augment:
                item = {k: _augment(v, aug, square=ph == pw) for k, v in item.items()}
            items.append(item)
        return _to_batch(items)


def _augment(t: torch.Tensor, code: int, square: bool) -> torch.Tensor:
    """Code bits: 1 = horizontal flip, 2 = vertical flip, 4 = transpose (square only)."""
    if code & 1:
        t = t.flip(-1)
    if code & 2:
        t = t.flip(-2)
    if code & 4 and square:  # flips + transpose = the 8 symmetries of the square
        t = t.transpose(-1, -2)
    return t


def val_items(pairs: PairSet, *, align: int = 1, crop: int | None = None
              ) -> Iterator[tuple[str, dict[str, torch.Tensor], np.ndarray]]:
    """(id, batch of one, HR uint8 (H, W, 3)) per validation image, centre-cropped to align."""
    for i, sid in enumerate(pairs.ids):
        h, w = pairs.lr[i].shape[-2:]
        y, x, ph, pw = aligned_window(h, w, align, crop)
        item = _crop(pairs, i, y, x, ph, pw)
        hr = item["hr"].permute(1, 2, 0).numpy()
        yield sid, _to_batch([item]), hr


def make_loader(batches: PatchBatches, start: int, stop: int, num_workers: int,
                pin_memory: bool) -> torch.utils.data.DataLoader:
    """Batches for iterations start..stop-1, in order (batch_size=None: items are batches)."""
    return torch.utils.data.DataLoader(
        batches, batch_size=None, sampler=range(start, stop), num_workers=num_workers,
        pin_memory=pin_memory, persistent_workers=False,
    )
