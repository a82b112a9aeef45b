"""The sewer paper's "GFLOPs" convention (Table 2), as a TorchDispatchMode over aten ops.

Rules (reverse-engineered so EDSR gives 37.39 G and RCAN 261.44 G at LR 128x128):
- Convolution: its multiplies, no bias: k_h*k_w*(C_in/groups)*C_out*H_out*W_out per image.
  A transposed convolution is counted the same way on its OUTPUT grid (standard MACs count
  it on the input grid, which is stride^2 smaller).
- Matrix products (mm, bmm, addmm, baddbmm, i.e. Linear layers and attention): M*N*K
  multiplies, bias adds not counted.
- One op per output element for every floating-point elementwise op: add/sub/mul/div
  (residual additions, the res-scale multiply even when res_scale == 1, channel-attention
  gating, mean shift scaling), activations (ReLU, LeakyReLU, sigmoid, GELU, ...), softmax,
  layer norm, and pooling / mean (output elements, so a global pool costs C per image).
  Integer/bool index arithmetic is not counted (it is not floating-point work).
- Not counted: data movement (cat, pad, copy, view, permute, gather, unfold, pixel shuffle).

Derivation, per LR pixel at x4 (conv MACs first, then elementwise):
- EDSR-20x64: convs 2,278,080 (head 1,728; 40 body convs 1,474,560; body tail 36,864;
  upsampler 147,456 + 589,824; last 27,648); elementwise 3,904 = 20 blocks x 64 x
  (ReLU + res-scale mul + residual add) + 64 (global residual add). Together with the mean
  shift (1x1 convs and the x255 / /255 scaling, ~200) -> 37.39 G at 128x128. Leaving out any
  of ReLU, the res-scale multiply or the additions gives 37.37 or less.
- RCAN-10x20x64: convs 15,917,760; elementwise 200 RCAB x 64 x (ReLU + CA gate mul +
  residual add) + 10 x 64 (group residuals) + 64 -> 261.44 G. Counting bias adds (+25,600
  per pixel) or pooling by its input elements (+12,800) overshoots, so neither is counted.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

_CONV = {"convolution", "_convolution"}
_MATMUL = {"mm", "bmm", "addmm", "baddbmm"}
_SDPA = {"_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
         "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_cudnn_attention"}
_ELEMENTWISE = {
    "add", "sub", "rsub", "mul", "div", "neg", "addcmul", "addcdiv",
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "hardtanh", "elu", "prelu",
    "_prelu_kernel", "hardswish", "hardsigmoid", "mish", "exp", "log", "sqrt", "rsqrt", "pow",
    "_softmax", "_log_softmax", "softmax", "native_layer_norm", "native_group_norm",
    "native_batch_norm", "_native_batch_norm_legit_no_training",
    "avg_pool2d", "_adaptive_avg_pool2d", "adaptive_avg_pool2d", "max_pool2d_with_indices",
    "mean", "upsample_bilinear2d", "upsample_bicubic2d", "upsample_nearest2d",
}


def _op_name(func: Any) -> str:
    # aten.add_.Tensor -> "add_" -> "add": in-place variants count like their functional form.
    name = func.overloadpacket.__name__ if hasattr(func, "overloadpacket") else str(func)
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            if isinstance(o, torch.Tensor):
                return o
    return None


def conv_paper_ops(x_shape: torch.Size, w_shape: torch.Size, out_shape: torch.Size,
                   transposed: bool, groups: int) -> int:
    """Multiplies of a (transposed) convolution counted on its output grid."""
    if transposed:  # weight (C_in, C_out/groups, k...)
        c_in, c_out = w_shape[0], w_shape[1] * groups
    else:  # weight (C_out, C_in/groups, k...)
        c_out, c_in = w_shape[0], w_shape[1] * groups
    kernel = math.prod(w_shape[2:])
    return out_shape[0] * math.prod(out_shape[2:]) * kernel * (c_in // groups) * c_out


def matmul_ops(func_name: str, args: tuple, out: torch.Tensor) -> int:
    """Multiplies of mm/bmm/addmm/baddbmm: output elements x inner dimension."""
    left = args[1] if func_name in ("addmm", "baddbmm") else args[0]
    return out.numel() * left.shape[-1]


class PaperFlopCounter(TorchDispatchMode):
    """Counts ops under the paper's (Table 2) convention; `.total` and `.by_kind` after the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.by_kind: dict[str, int] = defaultdict(int)
        self.by_op: dict[str, int] = defaultdict(int)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def _add(self, kind: str, op: str, n: int) -> None:
        self.by_kind[kind] += int(n)
        self.by_op[op] += int(n)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = _op_name(func)
        if name in _CONV:
            x, w = args[0], args[1]
            transposed, groups = bool(args[6]), int(args[8])
            self._add("conv", name, conv_paper_ops(x.shape, w.shape, out.shape, transposed, groups))
        elif name in _MATMUL:
            self._add("matmul", name, matmul_ops(name, args, out))
        elif name in _SDPA:
            q, k, v = args[0], args[1], args[2]  # (B, H, L, E), (B, H, S, E), (B, H, S, Ev)
            b_h_l = math.prod(q.shape[:-1])
            self._add("matmul", name, b_h_l * k.shape[-2] * (q.shape[-1] + v.shape[-1]))
        elif name in _ELEMENTWISE:
            t = _first_tensor(out)
            if t is not None and t.is_floating_point():
                self._add("elementwise", name, t.numel())
        return out
