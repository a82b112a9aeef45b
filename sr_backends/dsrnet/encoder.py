"""Three-level feature encoder (stride 1, 2, 4), shared by LR, Ref↓ and Ref.

Each level is a 3x3 conv (+ReLU) followed by `n_blocks` residual blocks; levels 2 and 3 start
with a stride-2 conv. The depth encoder is the same module with one input channel.
`forward(x, levels)` stops after `levels` levels, so callers that only need the full-resolution
features (Ref↓ and its depth: matching reads level 1 only) do not pay for the other two.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sr_backends.dsrnet.blocks import conv3x3, conv_cat, res_stack


class Encoder(nn.Module):
    def __init__(self, in_ch: int, nf: int, n_blocks: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList([conv3x3(in_ch, nf), conv3x3(nf, nf, 2), conv3x3(nf, nf, 2)])
        self.bodies = nn.ModuleList(res_stack(nf, n_blocks) for _ in range(3))

    def forward(self, x: torch.Tensor, levels: int = 3) -> list[torch.Tensor]:
        feats: list[torch.Tensor] = []
        for head, body in list(zip(self.heads, self.bodies))[:levels]:
            # A 1-channel depth map is layout-ambiguous and its conv returns NCHW; keep every
            # feature channels-last (a no-op when it already is), see DSRNet.forward_with_aux.
            x = F.relu(head(x), inplace=True).contiguous(memory_format=torch.channels_last)
            x = body(x)
            feats.append(x)
        return feats


class DepthFusion(nn.Module):
    """RGB-depth fusion: concat + one 3x3 conv (2nf -> nf) + ReLU, shared by every level.

    One conv, shared across the three levels and between LR and Ref↓, is what the authors'
    released code holds: its used-parameter count (5.06M teacher / 3.07M student) leaves room
    for exactly one 128->64 3x3 conv next to the RGB encoder, depth encoder and decoder (three
    separate convs would give 5.21M). The paper's text (section 3.2) describes three conv+deconv sets; a
    deconv would change the resolution of a feature that must stay aligned with the RGB one,
    and neither the measured parameters nor the MACs contain one, so we follow the code.
    """

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv = conv3x3(2 * nf, nf)

    def forward(self, rgb: list[torch.Tensor], depth: list[torch.Tensor]) -> list[torch.Tensor]:
        return [F.relu(conv_cat(self.conv, f, d), inplace=True) for f, d in zip(rgb, depth)]
