"""Feature transfer: place the matched Ref features on the LR grid at scale s (1, 2, 4).

Semantics (MASA-SR's unfold / gather / fold with overlap normalisation, done globally): LR
position q matched the Ref↓ patch centred at N_q; at scale s that patch is the 3s x 3s block
of the Ref feature starting at s*(N_q - 1), and it is pasted at s*(q - 1) on the output grid.
Overlapping pastes are averaged. So output pixel p = s*i + r (i an LR cell, 0 <= r < s) is

    out[p] = 1/|E_i| * sum_{e in E_i} ref[s*(N_{i+e} - e) + r],   E_i = {e in {-1,0,1}^2 :
                                                                          i+e inside the LR map}

then multiplied by the bilinearly upsampled score map. The authors materialise every unfolded
3s x 3s patch (a third of their run time, ~13 GB at LR 448x320). Here one `embedding_bag`
per scale computes it directly: the channels-last Ref map, viewed without a copy as rows of
s pixels x C channels (one row = s horizontally adjacent pixels), is the table; each output
row segment (s pixels of one output row) is a bag of the 9 table rows above with weights
1/|E_i| (0 for neighbours outside the map). The result is already the channels-last output;
nothing larger than the output is allocated, and autograd works (the backward is a
scatter-add into the Ref map).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]

Bags = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def make_bags(index: torch.Tensor, ref_hw: tuple[int, int]) -> Bags:
    """Per LR cell i and offset e: the Ref↓ cell N_{i+e} - e (y, x) and its weight, each
    (B, h, w, 9), from the (B, h, w) index map of a Ref↓ grid of size `ref_hw`. Shared by
    the three scales."""
    B, h, w = index.shape
    W = ref_hw[1]
    # Pad by one cell so each neighbour i+e is a plain slice; the pad cells have weight 0.
    row = torch.div(index, W, rounding_mode="floor")
    ny = F.pad(row, (1, 1, 1, 1))
    nx = F.pad(index - row * W, (1, 1, 1, 1))  # index % W (no ONNX export of % symbolic W)
    inside = F.pad(torch.ones(1, h, w, device=index.device), (1, 1, 1, 1))
    ys, xs, valid = [], [], []
    for dy, dx in _OFFSETS:
        sl = (slice(None), slice(1 + dy, 1 + dy + h), slice(1 + dx, 1 + dx + w))
        v = inside[sl]
        # Outside neighbours would point off the map: pin them to cell (0, 0), weight 0.
        ys.append((ny[sl] - dy) * v.long())
        xs.append((nx[sl] - dx) * v.long())
        valid.append(v.expand(B, h, w))
    valid_t = torch.stack(valid, -1)
    return torch.stack(ys, -1), torch.stack(xs, -1), valid_t / valid_t.sum(-1, keepdim=True)


def transfer(ref: torch.Tensor, bags: Bags, score: torch.Tensor, s: int) -> torch.Tensor:
    """Transferred Ref features (B, C, s*h, s*w), channels-last, weighted by the score map.

    ref: (B, C, s*H, s*W) Ref features at scale s (channels-last avoids a copy);
    bags: `make_bags(index, (H, W))`; score: (B, 1, h, w).
    """
    B, C = ref.shape[:2]
    H, W = ref.shape[-2] // s, ref.shape[-1] // s
    ys, xs, weights = bags
    h, w = ys.shape[1:3]
    # Table row (b, Y, X) = Ref pixels (b, Y, s*X .. s*X+s-1): row id (b*s*H + Y)*W + X.
    table = ref.permute(0, 2, 3, 1).reshape(B * s * H * W, s * C)
    base = (torch.arange(B, device=ys.device) * s * H).view(B, 1, 1, 1) + s * ys
    r = torch.arange(s, device=ys.device).view(1, 1, s, 1, 1)
    rows = ((base.unsqueeze(2) + r) * W + xs.unsqueeze(2)).view(-1, 9)  # (B*h*s*w, 9)
    wts = weights.unsqueeze(2).expand(B, h, s, w, 9).reshape(-1, 9).to(table.dtype)
    if torch.compiler.is_exporting():
        # embedding_bag exports as an ONNX Loop over rows (~3x slower than PyTorch); the same
        # weighted sum as 9 row gathers (Gather) is a few plain ops.
        out = sum(table.index_select(0, rows[:, k]) * wts[:, k:k + 1] for k in range(9))
    else:
        out = F.embedding_bag(rows, table, per_sample_weights=wts, mode="sum")
    up = F.interpolate(score, scale_factor=s, mode="bilinear", align_corners=False)
    return out.view(B, s * h, s * w, C).permute(0, 3, 1, 2) * up
