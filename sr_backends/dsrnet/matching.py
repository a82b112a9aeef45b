"""Coarse-to-fine block matching between LR features and Ref↓ features (MASA-SR style).

The LR feature map is split into `block` x `block` blocks (16). For each block:

1. Coarse: find where the whole block sits in Ref↓. The authors' code compares every block's
   centre patch with every Ref↓ position at full resolution (cost ~ LR area x Ref area:
   5.2-5.3x per 4x area). Here both maps are average-pooled by `pool` (4) first and the
   block's (block/pool)^2 cells x 8 channel-group descriptor is compared with every pooled
   Ref↓ position by zero-mean normalised cross-correlation: the quadratic term shrinks by
   pool^4 x 9C/8 (~2300x at C = 64) and stays a few % of the linear fine stage at the sizes
   we run (matching MACs grow 4.06x and 4.24x per 4x area from LR 112x80 to 448x320).
2. Fine: crop a window of (block + 2*slack)^2 candidate centres around the coarse match (the
   +-slack absorbs the pool quantisation and in-block parallax; MASA-SR uses 25 for block 16)
   and match every 3x3 LR patch of the block against every 3x3 patch centred in the window, by
   cosine similarity, batched over all blocks (chunked only to bound memory) and computed
   from pixel dot products (see `fine_match`). Linear in image area.

The index is the flat Ref↓ position y*W + x of the best patch centre; centres always lie in
[1, H-2] x [1, W-2], so a 3x3 patch (and its s-times larger copy at scale s) never leaves the
Ref map. The search runs without autograd; when autograd records (training) the score of the
chosen patch is recomputed differentiably, so the encoder still learns from the score map as
in MASA-SR (where the top-1 correlation carries gradients).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

# Channels of the coarse descriptor (groups of feature channels averaged), see _coarse_cells.
COARSE_CHANNELS = 8
# Bound on the per-chunk fine-stage temporaries (pixel dot products + patch correlations).
_FINE_CHUNK_BYTES = 16 * 2 ** 20  # ~7 blocks of 64 channels per chunk: L3-resident


@dataclass
class Match:
    index: torch.Tensor  # (B, h, w) int64, flat Ref↓ position of the matched patch centre
    score: torch.Tensor  # (B, 1, h, w) cosine similarity of the matched 3x3 patches


def _mod(a: torch.Tensor, n: int) -> torch.Tensor:
    """a % n for an integer tensor, written as a - (a // n) * n (the same integers): an ONNX
    export with dynamic sizes has no translation of `tensor % symbolic int`."""
    return a - torch.div(a, n, rounding_mode="floor") * n


def _zncc_descriptors(cols: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, C*k*k, L) unfolded blocks -> unit descriptors with each channel's block mean removed.

    Centring makes the coarse score a normalised cross-correlation of the block's structure:
    plain cosine of non-negative (ReLU-fed) features is dominated by their mean and barely
    separates positions on a coarse grid, and a sewer Ref (the next frame, closer to the lamp)
    is brighter than the LR, which centring also discounts.
    """
    B, _, L = cols.shape
    cols = cols.view(B, channels, -1, L)
    return F.normalize((cols - cols.mean(2, keepdim=True)).view(B, -1, L), dim=1)


def _coarse_cells(feat: torch.Tensor, pool: int) -> torch.Tensor:
    """pool x pool average, and channels averaged in groups down to ~COARSE_CHANNELS.

    The coarse search is the only term that grows with LR area x Ref area; 8 channels x 16
    cells keep it ~3% of the fine stage's MACs at LR 224x160. On shifted random-texture
    checks with 64-channel features, 8 or 16 channels placed blocks equally well (64: ~2%
    better at 8x the cost; 4: clearly worse).
    """
    B, C, H, W = feat.shape
    g = math.gcd(C, max(1, C // COARSE_CHANNELS))
    return F.avg_pool2d(feat, pool).view(B, C // g, g, H // pool, W // pool).mean(2)


def coarse_windows(lr_feat: torch.Tensor, ref_feat: torch.Tensor, block: int, pool: int,
                   win: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left (y, x) of each block's window of candidate centres in Ref↓: 2 x (B, nb).

    Descriptor: the whole block as (block/pool)^2 cells of pool x pool averaged features;
    candidates: every position of the pooled Ref↓ (stride `pool` px). The pooled Ref↓ is
    edge-padded by half a block so a block whose match hangs over the Ref border (content
    leaving the view between frames) is still placed next to it rather than anywhere.
    """
    k = block // pool
    query = F.unfold(_coarse_cells(lr_feat, pool), k, stride=k)
    C = query.shape[1] // (k * k)
    query = _zncc_descriptors(query, C)
    ref_pooled = F.pad(_coarse_cells(ref_feat, pool), (k // 2,) * 4, mode="replicate")
    cand = _zncc_descriptors(F.unfold(ref_pooled, k), C)  # every pooled position
    best = torch.bmm(query.transpose(1, 2), cand).argmax(-1)  # (B, nb)
    n_x = ref_pooled.shape[-1] - k + 1
    top = (best // n_x - k // 2) * pool  # matched block's top-left in Ref↓ px
    left = (_mod(best, n_x) - k // 2) * pool
    H, W = ref_feat.shape[-2:]
    # Centre the window on the matched block, then shift it inside [1, H-2] like MASA-SR.
    y0 = (top - (win[0] - block) // 2).clamp(1, H - 1 - win[0])
    x0 = (left - (win[1] - block) // 2).clamp(1, W - 1 - win[1])
    return y0, x0


def _box3(x: torch.Tensor) -> torch.Tensor:
    """Sum over each 3x3 neighbourhood of the last two dims (valid positions only)."""
    h, w = x.shape[-2] - 2, x.shape[-1] - 2
    return sum(x[..., dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))


def _diagonal_sum(x: torch.Tensor, d_lr: int, d_ref: int, n_lr: int, n_ref: int) -> torch.Tensor:
    """sum_{t=0..2} x shifted by t along both dim d_lr (keeping n_lr) and dim d_ref (keeping
    n_ref): the 3-tap part of a patch correlation along one axis (separable: 2 x 3 taps
    instead of 9)."""
    out = x.narrow(d_lr, 0, n_lr).narrow(d_ref, 0, n_ref) + \
        x.narrow(d_lr, 1, n_lr).narrow(d_ref, 1, n_ref)
    return out.add_(x.narrow(d_lr, 2, n_lr).narrow(d_ref, 2, n_ref))


def fine_match(lr_feat: torch.Tensor, ref_feat: torch.Tensor, y0: torch.Tensor,
               x0: torch.Tensor, block: int,
               win: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense 3x3 patch matching of every LR block inside its window.

    Returns the index map (B, h, w) and the cosine of each matched patch pair (B, 1, h, w).
    The 3x3-patch correlation of LR position i and candidate centre j is the sum over the 9
    offsets d of pixel dot products <F(i+d), G(j+d)>: one matmul of the block's pixels (with
    a 1-px border) against the window's pixels (C-long dot products, 1/9 of the
    unfolded-patch matmul) plus shifted adds (separable: 3 along x, then 3 along y) gives
    every patch correlation, without materialising any unfolded patches. Blocks are processed
    in chunks whose temporaries stay in the L3 cache, so time stays linear in area.
    """
    B, C, H, W = ref_feat.shape
    h, w = lr_feat.shape[-2:]
    nby, nbx = h // block, w // block
    nb, pb = nby * nbx, block + 2
    wy, wx = win[0] + 2, win[1] + 2
    # Both sides are gathered per chunk as rows of the channels-last maps (no full-size
    # temporaries): each block's LR pixels with a 1-px edge-replicated border, (pb*pb) rows,
    # and its window of candidates with a 1-px border (every centre gets a full 3x3 patch).
    ar = torch.arange(max(pb, wy, wx), device=y0.device)
    py = ((torch.arange(nby, device=y0.device) * block - 1).view(nby, 1) + ar[:pb]).clamp(0, h - 1)
    px = ((torch.arange(nbx, device=y0.device) * block - 1).view(nbx, 1) + ar[:pb]).clamp(0, w - 1)
    lr_rows = py.view(nby, 1, pb, 1) * w + px.view(1, nbx, 1, pb)
    lr_rows = (lr_rows.view(1, nb, pb * pb) + (torch.arange(B, device=y0.device) * h * w)
               .view(B, 1, 1)).view(B * nb, pb * pb)
    ys = (y0 - 1).unsqueeze(-1) + ar[:wy]
    xs = (x0 - 1).unsqueeze(-1) + ar[:wx]
    win_rows = ys.unsqueeze(-1) * W + xs.unsqueeze(-2)  # (B, nb, wy, wx)
    win_rows = (win_rows + (torch.arange(B, device=y0.device) * H * W).view(B, 1, 1, 1))
    win_rows = win_rows.view(B * nb, wy * wx)
    lr_table = lr_feat.permute(0, 2, 3, 1).reshape(B * h * w, C)
    ref_table = ref_feat.permute(0, 2, 3, 1).reshape(B * H * W, C)
    per_block = 4 * (pb * pb * wy * wx + 2 * block * block * win[0] * win[1] + wy * wx * C)
    chunk = max(1, _FINE_CHUNK_BYTES // per_block)

    def blocks(lr_r: torch.Tensor, win_r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = lr_r.shape[0]
        q = lr_table.index_select(0, lr_r.reshape(-1)).view(n, pb * pb, C)
        cand = ref_table.index_select(0, win_r.reshape(-1)).view(n, wy * wx, C)
        dots = torch.bmm(q, cand.transpose(1, 2)).view(n, pb, pb, wy, wx)
        corr = _diagonal_sum(_diagonal_sum(dots, 2, 4, block, win[1]), 1, 3, block, win[0])
        norm_q = _box3(cand.square().sum(-1).view(n, wy, wx)).sqrt_().clamp_min_(1e-6)
        corr = corr.view(n, block * block, win[0], win[1]).div_(norm_q.unsqueeze(1))
        value, idx = corr.flatten(2).max(-1)
        norm_p = _box3(q.square().sum(-1).view(n, pb, pb)).sqrt_().clamp_min_(1e-6)
        return idx, value / norm_p.view(n, block * block)

    if torch.compiler.is_exporting():  # one chunk: an exported graph must not depend on the
        best, score = blocks(lr_rows, win_rows)  # example's size (same values, more memory)
    else:
        best = torch.empty(B * nb, block * block, dtype=torch.long, device=ref_feat.device)
        score = torch.empty(B * nb, block * block, dtype=ref_feat.dtype, device=ref_feat.device)
        for s in range(0, B * nb, chunk):
            e = min(s + chunk, B * nb)
            best[s:e], score[s:e] = blocks(lr_rows[s:e], win_rows[s:e])
    by = y0.reshape(B * nb, 1) + best // win[1]
    bx = x0.reshape(B * nb, 1) + _mod(best, win[1])
    index = (by * W + bx).view(B, nby, nbx, block, block).permute(0, 1, 3, 2, 4)
    score = score.view(B, nby, nbx, block, block).permute(0, 1, 3, 2, 4)
    return index.reshape(B, h, w), score.reshape(B, 1, h, w)


def matched_score(lr_feat: torch.Tensor, ref_feat: torch.Tensor,
                  index: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between each LR 3x3 patch (edge-replicated) and its matched Ref↓
    patch: (B, 1, h, w), differentiable in both feature maps. Gathers the 9 pixels of each
    matched patch only (centres are interior, so every offset is in range)."""
    B, C, H, W = ref_feat.shape
    h, w = index.shape[-2:]
    lr_pad = F.pad(lr_feat, (1, 1, 1, 1), mode="replicate")
    ref_rows = ref_feat.permute(0, 2, 3, 1).reshape(B * H * W, C)
    flat = (index + (torch.arange(B, device=index.device) * H * W).view(B, 1, 1)).view(-1)
    dot = lr_norm2 = ref_norm2 = 0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            a = lr_pad[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w].permute(0, 2, 3, 1).reshape(-1, C)
            b = ref_rows.index_select(0, flat + (dy * W + dx))
            dot = dot + (a * b).sum(-1)
            lr_norm2 = lr_norm2 + a.square().sum(-1)
            ref_norm2 = ref_norm2 + b.square().sum(-1)
    score = dot * torch.rsqrt(lr_norm2.clamp_min(1e-12) * ref_norm2.clamp_min(1e-12))
    return score.view(B, 1, h, w)


def match(lr_feat: torch.Tensor, ref_feat: torch.Tensor, block: int = 16, pool: int = 4,
          slack: int = 4) -> Match:
    """Coarse-to-fine matching of LR features (B,C,h,w) against Ref↓ features (B,C,H,W).

    Needs h, w multiples of `block` (DSRNet pads its input) and H, W >= `block`.
    """
    h, w = lr_feat.shape[-2:]
    H, W = ref_feat.shape[-2:]
    if h % block or w % block or H < block or W < block:
        raise ValueError(f"match: LR {h}x{w} must be multiples of {block} and Ref↓ {H}x{W} "
                         f"at least {block}x{block}")
    # Window of candidate centres; a Ref↓ smaller than the window shrinks it to the interior.
    win = (min(block + 2 * slack, H - 2), min(block + 2 * slack, W - 2))
    with torch.no_grad():
        y0, x0 = coarse_windows(lr_feat, ref_feat, block, pool, win)
        index, score = fine_match(lr_feat, ref_feat, y0, x0, block, win)
    if torch.is_grad_enabled() and (lr_feat.requires_grad or ref_feat.requires_grad):
        score = matched_score(lr_feat, ref_feat, index)  # the same values, with autograd
    return Match(index=index, score=score)


def perf_probe(lr_size: tuple[int, int], n_feats: int = 64
               ) -> tuple[Callable[..., Match], tuple[torch.Tensor, torch.Tensor]]:
    """The matching stage as a timing probe for `bench perf matching`: (`match`, its inputs)
    at LR `lr_size` (h, w) with the Ref 4x larger, i.e. Ref↓ features of the LR size; random
    `n_feats`-channel features from a fixed seed (matching cost does not depend on values)."""
    g = torch.Generator().manual_seed(0)
    h, w = lr_size
    lr = torch.randn(1, n_feats, h, w, generator=g)
    ref_down = torch.randn(1, n_feats, h, w, generator=g)
    return match, (lr, ref_down)
