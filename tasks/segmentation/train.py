"""Training and inference loops shared by the segmentation models.

Choices, and why:
- Inputs are uint8 RGB; they are scaled to [0,1] and normalised with the ImageNet mean/std
  (MEAN, STD below). The models are trained from scratch, so the constants matter only as a
  fixed, documented standardisation that keeps activations near zero mean / unit scale.
- `image_size` S > 0: every training image (and every evaluated image) whose size is not SxS is
  resized to SxS (images bilinear with antialias, masks nearest); predictions are then
  upsampled back to the mask's size (bilinear on the logits, then argmax). S <= 0 keeps native
  sizes (all images of a batch must then share a size).
- Loss = class-weighted cross-entropy (ignore_index 255) + soft Dice over the foreground classes
  present in the batch. Defects cover ~1% of a frame: plain CE converges to "all background"
  for a long time on a short CPU schedule. Weights are w_c = sqrt(f_bg / f_c) from the
  training split's pixel frequencies (background = 1, clipped to [1, MAX_CLASS_WEIGHT]); Dice
  is insensitive to class size. Both can be switched off (`LossConfig`).
- AdamW (weight decay 1e-4), linear warm-up over the first 5% of steps (max 50) then cosine
  decay to 0: stable from scratch with BatchNorm and gets the most out of a short schedule.
- Data order and flips come from a torch.Generator seeded with cfg.seed; weights are
  initialised after torch.manual_seed(cfg.seed). On CPU two fits with the same seed give
  bit-identical weights; CUDA bilinear-upsampling backward is not deterministic.
- BatchNorm needs >= 2 samples per batch: the batch size is capped at the number of images,
  the last incomplete batch of an epoch is dropped, and fewer than 2 images is an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tasks.segmentation.metrics import IGNORE_INDEX
from tasks.schedule import warmup_cosine

MEAN = (0.485, 0.456, 0.406)  # ImageNet RGB mean / std, applied after scaling to [0,1]
STD = (0.229, 0.224, 0.225)
MAX_CLASS_WEIGHT = 20.0
WEIGHT_DECAY = 1e-4


@dataclass(frozen=True)
class LossConfig:
    class_weighting: bool = True
    dice: bool = True


def to_tensor_images(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack uint8 (H,W,3) arrays into a uint8 (N,3,H,W) tensor (no copy of the pixels twice)."""
    for i, im in enumerate(images):
        if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise ValueError(f"image {i}: expected uint8 (H,W,3), got {im.dtype} {im.shape}")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def normalise(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B,3,H,W) -> float, ImageNet-standardised."""
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def resize_images(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (B,3,H,W) -> uint8 (B,3,*size), bilinear with antialias (a fair downscale)."""
    if tuple(x.shape[-2:]) == size:
        return x
    y = F.interpolate(x.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def resize_masks(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (B,H,W) -> (B,*size), nearest (labels must not be blended; 255 stays 255)."""
    if tuple(m.shape[-2:]) == size:
        return m
    return F.interpolate(m[:, None].float(), size=size, mode="nearest-exact")[:, 0].to(torch.uint8)


class PreparedSplit(torch.utils.data.Dataset):
    """Lazy (image, mask) pairs resized to `image_size` (if > 0): item i is uint8 (3,S,S),
    uint8 (S,S). Nothing is held: each item is read from the (possibly lazy) sequences when a
    batch asks for it, so a split of any size trains in bounded memory."""

    def __init__(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], image_size: int):
        if len(images) != len(masks):
            raise ValueError(f"{len(images)} images but {len(masks)} masks")
        self.images, self.masks, self.image_size = images, masks, image_size
        self.shape: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_tensor_images([self.images[i]])
        mt = torch.from_numpy(np.ascontiguousarray(self.masks[i], dtype=np.uint8))[None]
        if mt.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"image {i}: mask {tuple(mt.shape[-2:])} != image {tuple(x.shape[-2:])}")
        s = self.image_size
        if s > 0:
            x, mt = resize_images(x, (s, s)), resize_masks(mt, (s, s))
        if self.shape is None:
            self.shape = tuple(x.shape)
        elif tuple(x.shape) != self.shape:
            raise ValueError("images differ in size; set image_size > 0 to train on a common size")
        return x[0], mt[0]

    def mask_counts(self, num_classes: int) -> torch.Tensor:
        """Pixel count per class over every (resized) mask, streaming; 255 excluded."""
        counts = torch.zeros(num_classes, dtype=torch.float64)
        for i in range(len(self)):
            counts += pixel_counts(self[i][1], num_classes)
        return counts


def pixel_counts(masks: torch.Tensor, num_classes: int) -> torch.Tensor:
    m = masks.reshape(-1).long()
    return torch.bincount(m[m != IGNORE_INDEX], minlength=num_classes)[:num_classes].double()


def class_weights(counts: torch.Tensor) -> torch.Tensor:
    """w_c = sqrt(f_bg / f_c) from per-class pixel counts, clipped to [1, MAX_CLASS_WEIGHT];
    1 for absent classes."""
    w = torch.ones(len(counts), dtype=torch.float64)
    if counts[0] > 0:
        seen = counts > 0
        w[seen] = (counts[0] / counts[seen]).sqrt()
    return w.clamp(1.0, MAX_CLASS_WEIGHT).float()


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice, averaged over the foreground classes present in this batch's target."""
    c = logits.shape[1]
    valid = (target != IGNORE_INDEX).unsqueeze(1)
    probs = logits.float().softmax(1) * valid
    onehot = F.one_hot(torch.where(valid[:, 0], target, 0).long(), c).permute(0, 3, 1, 2) * valid
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    card = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + 1.0) / (card + 1.0)
    present = onehot.sum(dims)[1:] > 0
    if not bool(present.any()):
        return logits.sum() * 0.0  # keeps the graph; no foreground in this batch
    return (1 - dice[1:][present]).mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
                      loss_cfg: LossConfig) -> torch.Tensor:
    """The training loss: class-weighted CE (ignore 255) + soft Dice (see the docstring)."""
    loss = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX)
    return loss + dice_loss(logits, target) if loss_cfg.dice else loss


def fit_loop(net: nn.Module, data: PreparedSplit, *, epochs: int, batch_size: int,
             lr: float, seed: int, device: str, num_classes: int, loss_cfg: LossConfig,
             progress: Callable[[int, int, str], None] | None = None) -> list[float]:
    """Train `net` in place, reading batches through a DataLoader; returns every step's loss.

    The batch order and flips are drawn up front per epoch from a generator seeded with
    `seed`, so the batches (and the weights) do not depend on how the data is stored."""
    n = len(data)
    if n < 2:
        raise ValueError("segmentation training needs at least 2 images (BatchNorm)")
    bs = min(batch_size, n)
    if bs < 2:
        raise ValueError(f"batch_size must be >= 2 for BatchNorm, got {batch_size}")
    steps_per_epoch = n // bs  # drop_last: a 1-image tail batch would break BatchNorm
    total = max(1, epochs * steps_per_epoch)
    weight = class_weights(data.mask_counts(num_classes)).to(device) \
        if loss_cfg.class_weighting else None
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total))
    gen = torch.Generator().manual_seed(seed)
    net.to(device).train()
    losses: list[float] = []
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        flips = torch.rand(n, generator=gen) < 0.5
        batches = [order[b * bs:(b + 1) * bs].tolist() for b in range(steps_per_epoch)]
        # A private generator: an iterator over a DataLoader draws a base seed, which from the
        # global RNG would shift the dropout masks of every later step.
        loader = torch.utils.data.DataLoader(data, batch_sampler=batches, num_workers=0,
                                             generator=torch.Generator())
        for idx, (xb, mb) in zip(batches, loader):
            fb = flips[idx]
            xb = torch.where(fb.view(-1, 1, 1, 1), xb.flip(-1), xb)  # random horizontal flip
            mb = torch.where(fb.view(-1, 1, 1), mb.flip(-1), mb)
            xb = normalise(xb.to(device, non_blocking=True))
            mb = mb.to(device, non_blocking=True).long()
            loss = segmentation_loss(net(xb), mb, weight, loss_cfg)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"segmentation loss is {loss.item()} at step {step}; lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(step, total, f"loss {losses[-1]:.3f}")
    net.eval()
    return losses


def _batches(images: Sequence[np.ndarray], batch_size: int) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Consecutive runs of same-size images, at most batch_size long, reading each image once
    (images may be a lazy sequence): yields (index of the first, the images)."""
    run: list[np.ndarray] = []
    start = 0
    for i in range(len(images)):
        im = images[i]
        if run and (len(run) == batch_size or im.shape != run[0].shape):
            yield start, run
            run, start = [], i
        run.append(im)
    if run:
        yield start, run


def predict_masks(net: nn.Module, images: Sequence[np.ndarray], out_sizes: Sequence[tuple[int, int]],
                  *, image_size: int, device: str, batch_size: int = 8) -> Iterator[np.ndarray]:
    """Yield one uint8 (H,W) argmax mask per image, at out_sizes[i] (the mask's size)."""
    net.to(device).eval()
    for s, run in _batches(images, batch_size):
        # No yield inside inference_mode: grad mode is thread-local and would leak to the caller.
        with torch.inference_mode():
            x = to_tensor_images(run).to(device)
            if image_size > 0:
                x = resize_images(x, (image_size, image_size))
            logits = net(normalise(x))
            preds = []
            for i in range(s, s + len(run)):
                lg = logits[i - s:i - s + 1]
                if tuple(lg.shape[-2:]) != tuple(out_sizes[i]):
                    lg = F.interpolate(lg, size=tuple(out_sizes[i]), mode="bilinear", align_corners=False)
                preds.append(lg.argmax(1)[0].to("cpu", torch.uint8).numpy())
        yield from preds
