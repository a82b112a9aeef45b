"""Torch-only cost counting: parameters, MACs (two independent counters), latency, and the
machine's dense-convolution ceiling. A core module: models (sr_backends/) and tasks may import
it; it imports nothing from the harness or the models. `bench.cost.cost_report` builds
the per-backend report on top of it.

Conventions:
- MACs: one multiply-accumulate per MAC, convolutions + matrix products (Linear, attention),
  bias and elementwise ops excluded; a transposed convolution on its input grid. Counted by
  `torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2) and cross-checked by our own counter
  (`HookMacCounter`: forward hooks on Conv2d / ConvTranspose2d / Linear + a TorchFunctionMode
  for matmul-family and functional conv calls made outside those modules).
- paper FLOPs: see `bench.metrics.flops_paper` (reproduces the sewer paper's Table 2).
- Latency: median (and p90) of warm repeats, stated device, torch thread count and precision.
"""
from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from bench.errors import BenchError


def count_params(model: nn.Module) -> int:
    """All parameters, frozen ones included (e.g. the EDSR/RCAN mean shift), shared ones once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


# --------------------------------------------------------------------------- MAC counters
def conv_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    k = math.prod(module.weight.shape[2:])
    if isinstance(module, nn.ConvTranspose2d):  # input grid x C_out/groups x kernel
        return inp.numel() * (module.out_channels // module.groups) * k
    return out.numel() * (module.in_channels // module.groups) * k


_FUNC_CONV = {"conv1d", "conv2d", "conv3d"}
_FUNC_CONVT = {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
_FUNC_MATMUL = {"matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "baddbmm", "addmm",
                "linear", "scaled_dot_product_attention", "einsum"}


class HookMacCounter(TorchFunctionMode):
    """Our own counter: module hooks for Conv2d/ConvTranspose2d/Linear, and torch-function
    interception for matmuls and for functional conv/linear calls outside those modules."""

    def __init__(self, model: nn.Module | None) -> None:
        super().__init__()
        self.macs = 0
        self._depth = 0  # >0 while inside a hooked module: its F.conv2d is counted by the hook
        self._handles: list[Any] = []
        for m in (model.modules() if model is not None else ()):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                self._handles.append(m.register_forward_pre_hook(self._enter))
                self._handles.append(m.register_forward_hook(self._leave))

    def _enter(self, module: nn.Module, args: tuple) -> None:
        self._depth += 1

    def _leave(self, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        self._depth -= 1
        if isinstance(module, nn.Linear):
            self.macs += out.numel() * module.in_features
        else:
            self.macs += conv_macs(module, args[0], out)

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        super().__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if not name.startswith("__"):  # in-place variants (baddbmm_) count like the plain op
            name = name.rstrip("_")
        if name in _FUNC_CONV and self._depth == 0:
            w = args[1]  # (C_out, C_in/groups, k...): shape[1] already accounts for groups
            self.macs += out.numel() * w.shape[1] * math.prod(w.shape[2:])
        elif name in _FUNC_CONVT and self._depth == 0:
            self.macs += args[0].numel() * args[1].shape[1] * math.prod(args[1].shape[2:])
        elif name in _FUNC_MATMUL and not (name == "linear" and self._depth > 0):
            self.macs += _matmul_macs(name, args, kwargs, out)
        return out


def _einsum_macs(args: tuple) -> int:
    """Two-operand einsum without ellipsis: the product of every index's size (a contraction
    does one MAC per point of the joint index space). Others are rare in SR nets: 0."""
    eq, ops = args[0], args[1:]
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = tuple(ops[0])
    lhs = eq.replace(" ", "").split("->")[0].split(",")
    if len(ops) != 2 or "..." in eq or len(lhs) != 2:
        return 0
    sizes: dict[str, int] = {}
    for letters, t in zip(lhs, ops):
        sizes.update(zip(letters, t.shape))
    return math.prod(sizes.values())


def _matmul_macs(name: str, args: tuple, kwargs: dict, out: Any) -> int:
    if name == "einsum":
        return _einsum_macs(args)
    if name == "scaled_dot_product_attention":
        q, k, v = args[:3]
        return math.prod(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])
    if name == "linear":
        return out.numel() * args[0].shape[-1]
    left = {"__rmatmul__": 1, "addmm": 1, "baddbmm": 1}.get(name, 0)
    return out.numel() * args[left].shape[-1]


@dataclass
class CostCount:
    macs: int            # FlopCounterMode FLOPs / 2
    macs_check: int      # HookMacCounter
    paper_flops: int     # PaperFlopCounter
    paper_breakdown: dict[str, int]
    counted_on: str      # "meta" or the device of the fallback forward


def count_costs(fn: Callable[..., Any], inputs: tuple, model: nn.Module | None,
                counted_on: str = "cpu") -> CostCount:
    """Run `fn(*inputs)` once under all three counters."""
    from torch.utils.flop_counter import FlopCounterMode

    from bench.metrics.flops_paper import PaperFlopCounter

    with torch.no_grad(), FlopCounterMode(display=False) as fc, PaperFlopCounter() as pc, \
            HookMacCounter(model) as hc:
        fn(*inputs)
    return CostCount(fc.get_total_flops() // 2, hc.macs, pc.total, dict(pc.by_kind), counted_on)


# --------------------------------------------------------------------------- latency
@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def _sync(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(fn: Callable[[], Any], repeats: int = 10, warmup: int = 2,
                    device: str | torch.device = "cpu", precision: str = "fp32") -> dict[str, Any]:
    """Median / p90 wall time of `fn()` over `repeats` calls after `warmup` calls."""
    if repeats < 1:
        raise BenchError(f"latency repeats must be >= 1, got {repeats}")
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        _sync(device)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    p90 = times[min(len(times) - 1, math.ceil(0.9 * len(times)) - 1)]
    q1, _, q3 = (statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1
                 else (times[0], times[0], times[0]))
    return {"median_ms": statistics.median(times), "p90_ms": p90, "min_ms": times[0],
            "max_ms": times[-1], "q1_ms": q1, "q3_ms": q3,
            "repeats": repeats, "warmup": warmup, "device": str(device),
            "threads": torch.get_num_threads(), "precision": precision}


def dense_conv_gmacs_per_s(channels: int = 64, size: tuple[int, int] = (128, 128),
                           threads: int | None = None, repeats: int = 5, warmup: int = 1,
                           device: str | torch.device = "cpu") -> float:
    """Achieved GMAC/s of a plain CxC 3x3 Conv2d at `size`: the practical ceiling of a conv net
    on this machine, to judge how well a model's MACs turn into speed."""
    conv = nn.Conv2d(channels, channels, 3, padding=1).to(device).eval()
    x = torch.rand(1, channels, *size, device=device)
    with torch_threads(threads):
        lat = measure_latency(lambda: conv(x), repeats=repeats, warmup=warmup, device=device)
    macs = 9 * channels * channels * size[0] * size[1]
    return macs / (lat["median_ms"] / 1e3) / 1e9


def achieved_ratio(macs: float, latency_s: float, ceiling_gmacs_per_s: float) -> float:
    """A model's achieved GMAC/s as a fraction of the dense-conv ceiling."""
    return macs / latency_s / 1e9 / ceiling_gmacs_per_s
