"""Attention-based feature distillation, L_ad (AFD: Ji et al., "Show, Attend and Distill",
AAAI 2021), as DSRNet-D uses it over the encoder levels.

For teacher features t_j (B, C_t^j, H_j, W_j), j = 1..T, and student features s_i
(B, C_s^i, H_i, W_i), i = 1..S, with d = `qk_dim`:

    q_j      = W_q^j · GAP(t_j)                                   (B, d)     query
    k_i      = ReLU(W_k^i · GAP(s_i))                              (B, d)
    k_ij     = (W_b · k_i)[j]                                      (B, d)     bilinear key
    a_j,i    = softmax_i( (q_j · k_ij + p_t[j] · p_s[i]) / sqrt(d) )            attention
    v(t_j)   = normalize(mean_c t_j², over H_j·W_j)                (B, H_j·W_j)
    v_j(s_i) = normalize(avgpool_{H_j x W_j}(mean_c s_i²))         (B, H_j·W_j)
    L_ad     = Σ_j mean_B Σ_i a_j,i · mean_{hw}(v_j(s_i) - v(t_j))²

p_t (T, d) and p_s (S, d) are learned position embeddings (Xavier-normal). The reference
implementation puts BatchNorm1d after each linear map; DSRNet trains at batch size 1, where
BatchNorm1d fails in training mode, so the maps here are plain linear layers (with bias), as in
the authors' DSRNet copy of AFD. The attention is not detached: W_q, W_k, W_b, p_t, p_s train
with the student through the loss itself.

`forward(student_feats, teacher_feats)` takes the STUDENT first (the authors' DSRNet code
swaps the two in one call; tests/test_distill.py pins the order). Teacher features are expected
without gradient (computed under no_grad); the gradient reaches the student features and this
module's parameters.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def spatial_value(f: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Channel-mean of the squared feature, average-pooled to `size`, L2-normalised:
    (B, C, H, W) -> (B, h·w)."""
    v = f.float().pow(2).mean(1, keepdim=True)
    if size is not None and tuple(v.shape[-2:]) != tuple(size):
        v = F.adaptive_avg_pool2d(v, size)
    return F.normalize(v.flatten(1), dim=1)


class AttentionFeatureDistillation(nn.Module):
    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 qk_dim: int = 64) -> None:
        super().__init__()
        self.qk_dim, self.n_t, self.n_s = qk_dim, len(teacher_channels), len(student_channels)
        self.queries = nn.ModuleList(nn.Linear(c, qk_dim) for c in teacher_channels)
        self.keys = nn.ModuleList(nn.Linear(c, qk_dim) for c in student_channels)
        self.bilinear = nn.Linear(qk_dim, qk_dim * self.n_t)
        self.p_t = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_t, qk_dim)))
        self.p_s = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_s, qk_dim)))

    def attention(self, student: Sequence[torch.Tensor],
                  teacher: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, T, S): for every teacher feature, a distribution over the student features."""
        b = student[0].shape[0]
        query = torch.stack([q(t.float().mean((2, 3))) for q, t in zip(self.queries, teacher)],
                            1)                                                    # (B, T, d)
        key = torch.stack([F.relu(k(s.float().mean((2, 3)))) for k, s in zip(self.keys, student)],
                          1)                                                      # (B, S, d)
        bilinear_key = self.bilinear(key).view(b, self.n_s, self.n_t, self.qk_dim)
        logit = torch.einsum("bstd,btd->bts", bilinear_key, query) + self.p_t @ self.p_s.T
        return torch.softmax(logit / math.sqrt(self.qk_dim), dim=2)

    def forward(self, student: Sequence[torch.Tensor],
                teacher: Sequence[torch.Tensor]) -> torch.Tensor:
        """L_ad of one batch (scalar); student features FIRST."""
        if len(student) != self.n_s or len(teacher) != self.n_t:
            raise ValueError(f"AFD built for {self.n_s} student / {self.n_t} teacher features, "
                             f"got {len(student)} / {len(teacher)}")
        atts = self.attention(student, teacher)
        loss = student[0].new_zeros((), dtype=torch.float32)
        for j, t in enumerate(teacher):
            size = tuple(t.shape[-2:])
            v_t = spatial_value(t)                                                # (B, hw)
            v_s = torch.stack([spatial_value(s, size) for s in student], 1)       # (B, S, hw)
            diff = (v_s - v_t.unsqueeze(1)).pow(2).mean(2)                        # (B, S)
            loss = loss + (diff * atts[:, j]).sum(1).mean()
        return loss
