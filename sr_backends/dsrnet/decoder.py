"""Decoder: LR features fused across levels, then x1 -> x2 -> x4 with the transferred Ref
features brought in by spatial adaptation (SAM) and dual residual aggregation (DRAM).

The layout is MASA-SR's (Lu et al. 2021), which DSRNet keeps: stage block counts
(L3, L2, L1, x1, x2, x4) = (2, 2, 2, 12, 8, 4) for the teacher; the authors' student halves
them, (1, 1, 1, 6, 4, 2) — its measured 3.07M used parameters and 234.4 GMACs need exactly
that. One SAM instance is shared by the three scales, as in MASA-SR.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sr_backends.dsrnet.blocks import conv3x3, conv_cat, res_stack


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class SAM(nn.Module):
    """Spatial adaptation: renormalise the transferred Ref features to the LR statistics.

    out = (ref - mean(ref)) / std(ref) * (gamma + std(lr)) + (beta + mean(lr)), per sample and
    channel over the spatial dims, with per-pixel gamma, beta predicted from [lr, ref].
    gamma/beta start at zero, so an untrained SAM simply moves the Ref features to the LR
    feature statistics (MASA-SR's residual form; biased std here, unbiased there).
    """

    def __init__(self, nf: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.shared = conv3x3(2 * nf, nf)
        self.gamma = conv3x3(nf, nf)
        self.beta = conv3x3(nf, nf)
        self.eps = eps

    def zero_init(self) -> None:
        for conv in (self.gamma, self.beta):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        style = F.relu(conv_cat(self.shared, lr, ref), inplace=True)
        B, C, H, W = ref.shape
        # Instance statistics. Ref: batch_norm over a (1, B*C, H, W) view is exactly instance
        # norm and its CPU kernel is ~4x faster than instance_norm / var_mean on channels-last
        # maps. LR: mean and mean of squares (plain reductions, no Welford pass).
        ref_n = F.batch_norm(ref.reshape(1, B * C, H, W), None, None, training=True,
                             eps=self.eps).reshape(B, C, H, W)
        mean_l = lr.mean((2, 3), keepdim=True)
        sq_l = torch.linalg.vector_norm(lr, dim=(2, 3), keepdim=True).square() / (H * W)
        std_l = (sq_l - mean_l.square()).clamp_min(1e-12).sqrt()
        gamma = self.gamma(style).add_(std_l)
        return self.beta(style).add_(mean_l).addcmul_(ref_n, gamma)


class DRAM(nn.Module):
    """Dual residual aggregation (MASA-SR): mixes the upsampled path with the adapted Ref."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.down_a = conv3x3(nf, nf, 2)
        self.up_a = nn.ConvTranspose2d(nf, nf, 3, 2, 1, 1)
        self.down_b = conv3x3(nf, nf, 2)
        self.up_b = nn.ConvTranspose2d(nf, nf, 3, 2, 1, 1)
        self.merge = conv3x3(2 * nf, nf)

    def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        # Out-of-place where the operand is a ReLU output: ReLU's backward reads it.
        res_a = F.relu(self.down_a(ref), inplace=True) - lr
        out_a = F.relu(self.up_a(res_a), inplace=True) + ref
        res_b = (2.0 * lr).sub_(F.relu(self.down_b(ref), inplace=True))  # (lr - down) + lr
        out_b = F.relu(self.up_b(res_b), inplace=True)
        return F.relu(conv_cat(self.merge, out_a, out_b), inplace=True)


class Decoder(nn.Module):
    def __init__(self, nf: int, blocks: Sequence[int]) -> None:
        super().__init__()
        b = list(blocks)
        if len(b) != 6:
            raise ValueError(f"dec_blocks needs 6 stage counts (L3, L2, L1, x1, x2, x4), got {b}")
        self.head3, self.body3 = conv3x3(nf, nf), res_stack(nf, b[0])
        self.head2, self.body2 = conv3x3(2 * nf, nf), res_stack(nf, b[1])
        self.head1, self.body1 = conv3x3(2 * nf, nf), res_stack(nf, b[2])
        self.sam = SAM(nf)
        self.merge1, self.body_x1 = conv3x3(2 * nf, nf), res_stack(nf, b[3])
        self.dram2, self.body_x2 = DRAM(nf), res_stack(nf, b[4])
        self.dram4, self.body_x4 = DRAM(nf), res_stack(nf, b[5])
        self.tail = conv3x3(nf, 3)

    def forward(self, lr_feats: Sequence[torch.Tensor], t1: torch.Tensor, t2: torch.Tensor,
                t4: torch.Tensor) -> torch.Tensor:
        """lr_feats: LR features at stride 1, 2, 4; t1/t2/t4: transferred Ref at x1, x2, x4."""
        l1, l2, l3 = lr_feats
        f = self.body3(F.relu(self.head3(l3), inplace=True))
        f = self.body2(F.relu(conv_cat(self.head2, _up2(f), l2), inplace=True))
        f = self.body1(F.relu(conv_cat(self.head1, _up2(f), l1), inplace=True))
        x1 = self.body_x1(F.relu(conv_cat(self.merge1, self.sam(f, t1), f), inplace=True))
        x2 = self.body_x2(self.dram2(x1, self.sam(_up2(x1), t2)))
        x4 = self.body_x4(self.dram4(x2, self.sam(_up2(x2), t4)))
        return self.tail(x4)
