"""Cost metrics: MAC counters agree with each other and with hand formulas; the paper's GFLOPs
convention reproduces Table 2 for every spec that declares `reference["paper_gflops"]`."""
from __future__ import annotations

import functools

import pytest
from conftest import toy_reference_net
import torch
from torch import nn

from bench.errors import BenchError
from bench.cost import cost_report
from bench.metrics.counting import (
    achieved_ratio, count_costs, count_params, dense_conv_gmacs_per_s, measure_latency,
)
from sr_backends import BACKENDS
from sr_backends.base import ArchSpec


def resolve(name: str):
    """The registry entry (every registered module must import: no skipping)."""
    return BACKENDS.get(name)


def counts(model: nn.Module, *inputs: torch.Tensor):
    return count_costs(model.eval(), inputs, model)


def test_single_conv_matches_hand_formula():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    c = counts(conv, torch.rand(2, 3, 10, 12))
    hand = 2 * 8 * 10 * 12 * 3 * 3 * 3  # B * C_out * H_out * W_out * C_in * k * k
    assert c.macs == c.macs_check == hand
    assert c.paper_flops == hand  # paper convention: multiplies only, bias not counted
    assert count_params(conv) == 8 * 3 * 9 + 8


def test_strided_grouped_conv():
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4, bias=False)
    c = counts(conv, torch.rand(1, 8, 16, 16))
    assert c.macs == c.macs_check == 16 * 8 * 8 * (8 // 4) * 9


def test_transposed_conv_input_grid_vs_paper_output_grid():
    convt = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    c = counts(convt, torch.rand(1, 8, 6, 6))
    assert c.macs == c.macs_check == 6 * 6 * 8 * 4 * 16  # standard: input grid
    assert c.paper_flops == 12 * 12 * 8 * 4 * 16  # paper: output grid (stride^2 more)


def test_linear_matmul_einsum():
    class Attn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(16, 48)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x).chunk(3, -1)
            a = (q @ k.transpose(-2, -1)).softmax(-1)
            return torch.einsum("bnm,bmc->bnc", a, v) + torch.bmm(a, v)

    c = counts(Attn(), torch.rand(2, 10, 16))
    hand = 2 * 10 * 16 * 48 + 3 * (2 * 10 * 10 * 16)  # linear + q@k + einsum + bmm
    assert c.macs == c.macs_check == hand
    # paper: same products + softmax (200) + add (320)
    assert c.paper_flops == hand + 2 * 10 * 10 + 2 * 10 * 16


def test_paper_elementwise_rules():
    class Block(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(x).mul(1.0)  # relu + res-scale multiply (even by 1)
            y += x  # in-place residual add
            return y * torch.sigmoid(nn.functional.adaptive_avg_pool2d(y, 1))

    c = counts(Block(), torch.rand(1, 4, 5, 5))
    n = 4 * 5 * 5
    assert c.macs == 0 and c.paper_flops == 4 * n + 4 + 4  # relu mul add gate + pool + sigmoid


@pytest.mark.parametrize("name", ["edsr", "rcan", "atd-light"])
def test_two_mac_counters_agree_tiny(name):
    spec = resolve(name)
    model = spec.build(**{**spec.hparams, **spec.tiny})
    c = counts(model, torch.rand(1, 3, 16, 16))
    assert c.macs > 0 and abs(c.macs - c.macs_check) / c.macs < 0.01


@pytest.mark.parametrize("name", ["edsr", "rcan"])
def test_two_mac_counters_agree_full_small_input(name):
    spec = resolve(name)
    with torch.device("meta"):
        model = spec.build(**spec.hparams)
    c = counts(model, torch.rand(1, 3, 24, 24, device="meta"))
    assert abs(c.macs - c.macs_check) / c.macs < 0.01


PAPER_SPECS = [n for n in BACKENDS.names() if not n.startswith("external")]


@functools.lru_cache(maxsize=None)
def paper_gflops_128(name: str) -> float:
    return cost_report(name, lr_size=(128, 128), latency_repeats=0)["paper_gflops"]


@pytest.mark.parametrize("name", PAPER_SPECS)
def test_paper_gflops_reproduce_table2(name):
    spec = resolve(name)
    if not isinstance(spec, ArchSpec) or "paper_gflops" not in spec.reference:
        pytest.skip(f"{name}: no paper GFLOPs to reproduce")
    got, target = paper_gflops_128(name), spec.reference["paper_gflops"]
    assert abs(got - target) / target < 0.005, (name, got, target)


def test_edsr_rcan_table2_values():
    """The exact figures, so a silent change of the convention is caught."""
    assert round(paper_gflops_128("edsr"), 2) == 37.39
    assert round(paper_gflops_128("rcan"), 2) == 261.44


def test_cost_report_keys_and_latency():
    r = cost_report("edsr-baseline", lr_size="16x16", latency_repeats=2, latency_warmup=1,
                    hparams={"n_resblocks": 2}, threads=1)
    for key in ("params", "macs", "gmacs", "paper_gflops", "latency_ms", "lr_size", "device",
                "threads", "precision", "macs_counter_check"):
        assert key in r, key
    assert r["macs"] == r["macs_counter_check"] and r["latency_ms"] > 0 and r["threads"] == 1
    assert r["lr_size"] == [16, 16] and r["ref_size"] is None and r["precision"] == "fp32"


def test_cost_report_reference_spec_gets_4x_ref():
    Fusion = toy_reference_net()

    r = cost_report(ArchSpec("fusion", Fusion, needs_reference=True), lr_size=(8, 8),
                    latency_repeats=0)
    assert r["ref_size"] == [32, 32]
    assert r["macs"] == 32 * 32 * 6 * 3 * 9


def test_cost_report_non_learned_backend():
    r = cost_report("bicubic", lr_size=(16, 16), latency_repeats=1, latency_warmup=0)
    assert r["params"] == 0 and r["macs"] == 0 and r["latency_ms"] > 0


def test_latency_and_ceiling():
    lat = measure_latency(lambda: torch.rand(64, 64) @ torch.rand(64, 64), repeats=3, warmup=1)
    assert set(lat) >= {"median_ms", "p90_ms", "device", "threads", "precision"}
    assert lat["p90_ms"] >= lat["median_ms"] > 0
    with pytest.raises(BenchError):
        measure_latency(lambda: None, repeats=0)
    ceiling = dense_conv_gmacs_per_s(channels=16, size=(16, 16), threads=1, repeats=2)
    assert ceiling > 0
    assert achieved_ratio(2e9, 1.0, 4.0) == pytest.approx(0.5)


def test_perf_backend_refuses_non_learned_in_one_line(bench_cli):
    code, _, err = bench_cli("perf", "backend", "--backend", "bicubic", "--no-memory")
    assert code != 0 and "times learned backends" in err and "'bicubic'" in err
    assert len(err.strip().splitlines()) == 1, err


def test_perf_backend_hparams_are_checked(bench_cli):
    code, _, err = bench_cli("perf", "backend", "--backend", "edsr", "--hparams",
                             "{n_resblock: 2}", "--no-memory")
    assert code != 0 and "Did you mean 'n_resblocks'" in err, err
