"""Compute cost of SR backends: parameters, MACs (two independent counters), the paper's GFLOPs
convention, latency, and the machine's dense-convolution ceiling.

Conventions (stated in every report):
- MACs: one multiply-accumulate per MAC, convolutions + matrix products (Linear, attention),
  bias and elementwise ops excluded; a transposed convolution on its input grid. Counted by
  `torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2) and cross-checked by our own counter
  (forward hooks on Conv2d / ConvTranspose2d / Linear + a TorchFunctionMode for matmul-family
  and functional conv calls made outside those modules).
- paper_gflops: see `bench.metrics.flops_paper` (reproduces the sewer paper's Table 2).
- Counting runs on the meta device (shapes only, no arithmetic), so counting ATD at
  128x128 is instant; models whose forward needs real values fall back to a CPU forward.
- Latency: median (and p90) of warm repeats at batch 1, random weights (weights do not change
  cost), stated device, torch thread count and precision.
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

CONVENTIONS = ("macs: multiply-accumulates of conv + matmul, no bias/elementwise, transposed "
               "conv on its input grid; paper_gflops: the sewer paper's Table 2 counter "
               "(conv multiplies on the output grid, no bias, + 1 op per elementwise output); "
               "latency: median of warm repeats, batch 1, random weights")


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
    return {"median_ms": statistics.median(times), "p90_ms": p90, "min_ms": times[0],
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


# --------------------------------------------------------------------------- report
def _parse_size(size: tuple[int, int] | str) -> tuple[int, int]:
    if isinstance(size, str):
        try:
            h, w = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise BenchError(f"size must look like 128x128, got {size!r}") from None
        return h, w
    return int(size[0]), int(size[1])


def _random_inputs(needs_ref: bool, lr_size: tuple[int, int], ref_size: tuple[int, int],
                   device: str | torch.device) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(1, 3, *lr_size, generator=g)
    inputs = (lr, torch.rand(1, 3, *ref_size, generator=g)) if needs_ref else (lr,)
    return tuple(t.to(device) for t in inputs)


def cost_report(backend_name: str | Any, lr_size: tuple[int, int] | str = (128, 128),
                ref_size: tuple[int, int] | str | None = None, device: str = "cpu",
                latency_repeats: int = 5, latency_warmup: int = 1, threads: int | None = None,
                weights: str | None = None, hparams: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    """Params, MACs (+ cross-check), paper GFLOPs and latency of one registered backend.

    `backend_name` is a registry name (or an ArchSpec, for specs not registered yet).
    Learned specs are built with random weights; reference-based ones get a Ref of 4x the LR
    size unless `ref_size` says otherwise. `latency_repeats=0` skips the latency measurement.
    """
    from sr_backends import BACKENDS
    from sr_backends.base import ArchSpec, SRBackend

    lr_hw = _parse_size(lr_size)
    if isinstance(backend_name, ArchSpec):
        entry, backend_name = backend_name, backend_name.arch
    else:
        entry = BACKENDS.get(backend_name)
    report: dict[str, Any] = {"backend": backend_name, "lr_size": list(lr_hw)}
    with torch_threads(threads) as n_threads:
        if isinstance(entry, ArchSpec):
            needs_ref, scale = entry.needs_reference, entry.scale
            hp = {**entry.hparams, **(hparams or {})}
            ref_hw = _parse_size(ref_size) if ref_size else (lr_hw[0] * scale, lr_hw[1] * scale)
            count: CostCount | None = None
            try:  # shapes only: instant even for ATD at 128x128, and no weights to initialise
                with torch.device("meta"):
                    meta_model = entry.build(**hp).to("meta").eval()
                meta_in = _random_inputs(needs_ref, lr_hw, ref_hw, "meta")
                count = count_costs(meta_model, meta_in, meta_model, "meta")
                n_params = count_params(meta_model)
            except Exception:  # data-dependent forward (.item(), python control flow on values)
                count = None
            if count is None or latency_repeats > 0:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    model = entry.build(**hp).to(device).eval()
                inputs = _random_inputs(needs_ref, lr_hw, ref_hw, device)
                if count is None:
                    count = count_costs(model, inputs, model, str(device))
                n_params = count_params(model)
                fn: Callable[[], Any] = lambda: model(*inputs)  # noqa: E731
            report.update(arch=entry.arch, hparams=hp, reference=dict(entry.reference),
                          params=n_params)
        elif isinstance(entry, type) and issubclass(entry, SRBackend):
            backend = entry(weights, device=device) if weights is not None else entry()
            needs_ref = backend.needs_reference
            ref_hw = _parse_size(ref_size) if ref_size else (lr_hw[0] * 4, lr_hw[1] * 4)
            inputs = _random_inputs(needs_ref, lr_hw, ref_hw, device)
            model = getattr(backend, "model", None)
            count = count_costs(backend.upscale, inputs, model, str(device))
            fn = lambda: backend.upscale(*inputs)  # noqa: E731
            report.update(arch=backend_name, params=count_params(model) if model else 0)
        else:
            raise BenchError(f"backend {backend_name!r} is neither an ArchSpec nor an SRBackend")
        report.update(
            ref_size=list(ref_hw) if needs_ref else None,
            macs=count.macs, gmacs=count.macs / 1e9, macs_counter_check=count.macs_check,
            paper_gflops=count.paper_flops / 1e9, paper_breakdown=count.paper_breakdown,
            counted_on=count.counted_on, device=str(device), threads=n_threads,
            precision="fp32", conventions=CONVENTIONS,
            latency_ms=None, latency_p90_ms=None, latency_repeats=latency_repeats)
        if latency_repeats > 0:
            lat = measure_latency(fn, latency_repeats, latency_warmup, device=device)
            report.update(latency_ms=lat["median_ms"], latency_p90_ms=lat["p90_ms"])
    return report
