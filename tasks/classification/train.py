"""Training and inference loops of the classification models (Sewer-ML's trainer, shrunk).

As Sewer-ML's official trainer: images resized to SxS (bilinear, antialiased), random
horizontal flip and brightness jitter (+-10%, its ColorJitter(0.1)), normalised with Sewer-ML's
RGB statistics (SEWERML_MEAN / SEWERML_STD), BCE-with-logits with `pos_weight` = negatives /
positives per class from the training split (a class without positives gets 1). Unlike it:
AdamW (weight decay 1e-4) with a linear warm-up (5% of steps, max 50) then cosine decay,
instead of SGD 0.1 with step decay over 40 epochs, because a CPU schedule is a few epochs long.

Streaming: `LabelledImages` reads one image per item from a (possibly lazy) sequence; a
DataLoader (num_workers 0) batches them, so no split is ever held in memory; the labels
(N x C uint8) are the only thing read up front (for pos_weight and for the two-stage subset).
Determinism: batch order, flips and jitter come from a torch.Generator seeded with the fit
seed, weights are initialised after torch.manual_seed(seed); on CPU the same seed gives
bit-identical weights.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tasks.schedule import warmup_cosine

SEWERML_MEAN = (0.523, 0.453, 0.345)  # Sewer-ML's official normalisation (RGB, [0,1] scale)
SEWERML_STD = (0.210, 0.199, 0.154)
WEIGHT_DECAY = 1e-4
JITTER = 0.1


def to_batch(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """uint8 (H,W,3) images -> float (B,3,S,S) in [0,255], resized (bilinear, antialias)."""
    out = []
    for i, im in enumerate(images):
        if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise ValueError(f"image {i}: expected uint8 (H,W,3), got {im.dtype} {im.shape}")
        x = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float()
        if tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False).clamp_(0, 255)
        out.append(x)
    return torch.cat(out)


def normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(SEWERML_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(SEWERML_STD, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


class LabelledImages(torch.utils.data.Dataset):
    """Item j = (image indices[j] resized to SxS as float (3,S,S), its label vector)."""

    def __init__(self, images: Sequence[np.ndarray], labels: np.ndarray, size: int,
                 indices: Sequence[int] | None = None):
        self.images, self.labels, self.size = images, labels, size
        self.indices = list(range(len(images))) if indices is None else [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.indices[j]
        return to_batch([self.images[i]], self.size)[0], torch.from_numpy(self.labels[i]).float()


def pos_weight(labels: np.ndarray) -> torch.Tensor:
    """negatives / positives per column; 1 where a column has no positive."""
    pos = labels.sum(0).astype(np.float64)
    neg = len(labels) - pos
    w = np.ones(labels.shape[1])
    np.divide(neg, pos, out=w, where=pos > 0)
    return torch.tensor(w, dtype=torch.float32)


def fit_loop(net: nn.Module, data: LabelledImages, *, epochs: int, batch_size: int, lr: float,
             seed: int, device: str, progress: Callable[[int, int, str], None] | None = None,
             step_offset: int = 0, total_steps: int | None = None) -> list[float]:
    """Train `net` in place on `data` with BCE-with-logits (pos_weight from data's labels)."""
    n = len(data)
    if n < 2:
        raise ValueError("classification training needs at least 2 images (BatchNorm)")
    bs = min(batch_size, n)
    steps_per_epoch = n // bs  # drop_last: a 1-image batch breaks BatchNorm
    total = max(1, epochs * steps_per_epoch)
    weight = pos_weight(data.labels[data.indices]).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total))
    gen = torch.Generator().manual_seed(seed)
    net.to(device).train()
    losses: list[float] = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        flips = torch.rand(n, generator=gen) < 0.5
        gains = 1 + JITTER * (2 * torch.rand(n, generator=gen) - 1)
        batches = [order[b * bs:(b + 1) * bs].tolist() for b in range(steps_per_epoch)]
        # A private generator: a DataLoader iterator drawing from the global RNG would shift
        # the dropout masks of every later step.
        loader = torch.utils.data.DataLoader(data, batch_sampler=batches, num_workers=0,
                                             generator=torch.Generator())
        for idx, (xb, yb) in zip(batches, loader):
            xb = torch.where(flips[idx].view(-1, 1, 1, 1), xb.flip(-1), xb)
            xb = (xb * gains[idx].view(-1, 1, 1, 1)).clamp_(0, 255)
            logits = net(normalise(xb.to(device)))
            loss = F.binary_cross_entropy_with_logits(logits, yb.to(device), pos_weight=weight)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"classification loss is {loss.item()} at step "
                                         f"{len(losses)}; lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(step_offset + len(losses), total_steps or total, f"loss {losses[-1]:.3f}")
    net.eval()
    return losses


def steps_of(n: int, batch_size: int, epochs: int) -> int:
    return epochs * (n // min(batch_size, n)) if n >= 2 else 0


def predict_scores(net: nn.Module, images: Sequence[np.ndarray], *, image_size: int,
                   device: str, batch_size: int = 16) -> Iterator[np.ndarray]:
    """Yield sigmoid scores (B, C) float64 batch by batch, reading each image once."""
    net.to(device).eval()
    for s in range(0, len(images), batch_size):
        run = [images[i] for i in range(s, min(s + batch_size, len(images)))]
        with torch.inference_mode():  # no yield inside: grad mode is thread-local
            logits = net(normalise(to_batch(run, image_size).to(device)))
            scores = torch.sigmoid(logits.double()).cpu().numpy()
        yield scores
