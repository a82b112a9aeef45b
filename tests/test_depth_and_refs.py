"""Ground-truth depth and the reference policy through training, inference and the harness.

DSRNet's Table 10 switch (depth predicted | gt | none) and the adjacent-vs-self reference
comparison only mean something if the harness feeds each variant what it declares: GT depth of
the LR frame and of its reference, and the same reference policy in training as in evaluation.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.backends import depth_for, upscale_cached
from bench.references import reference_image as reference_for
from bench.cache import Cache
from bench.datasets.base import Sample
from bench.degrade import DegradationConfig, degrade, sample_seed, to_tensor, to_uint8, upsample_to
from bench.errors import BenchError, ConfigError
from sr_backends.base import ArchSpec
from sr_backends.learned import LearnedBackend
from bench.training.config import SRTrainConfig
from bench.training.data import prepare_pairs
from bench.training.trainer import train_sr

pytestmark = pytest.mark.usefixtures("one_thread")


def samples(n: int, size: int = 64, prefix: str = "s", refs: bool = True,
            depth: bool = True) -> list[Sample]:
    rng = np.random.default_rng(len(prefix) + n)
    out = []
    for i in range(n):
        hr = (rng.random((size, size, 3)) * 255).astype(np.uint8)
        ref = (rng.random((size, size, 3)) * 255).astype(np.uint8)
        d = (1 + rng.random((size, size)) * 5).astype(np.float32)
        rd = (1 + rng.random((size, size)) * 5).astype(np.float32)
        out.append(Sample(id=f"{prefix}{i}", hr=hr, depth=d if depth else None,
                          refs=(ref,) if refs else (), ref_depths=(rd,) if refs and depth else ()))
    return out


class DepthRef(nn.Module):
    """Declares `needs_depth`; its output depends on both depth maps (so a wrong or missing
    map changes it) and it fails loudly if called without them."""

    needs_depth = True

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(5, 3, 3, padding=1)

    def forward(self, lr, ref, depth_lr, depth_ref_down):
        assert depth_lr.shape == depth_ref_down.shape == (lr.shape[0], 1, *lr.shape[-2:])
        x = torch.cat([lr, depth_lr / 10, depth_ref_down / 10], 1)
        return F.interpolate(lr + 0.1 * self.conv(x), size=ref.shape[-2:], mode="bilinear")


DEPTH_REF = ArchSpec(arch="depthref", build=DepthRef, needs_reference=True)


def cfg(**kw) -> SRTrainConfig:
    base = dict(backend="depthref", iterations=2, batch_size=2, patch_size=16, val_every=2,
                lr=1e-3, tensorboard=False, device="cpu")
    return SRTrainConfig(**{**base, **kw})


# ------------------------------------------------------------------ reference policy


def test_training_ref_policy_self_adjacent_auto():
    data = samples(2)
    kw = dict(degradation=DegradationConfig(), seed=0, scale=4, needs_reference=True)
    adj = prepare_pairs(data, ref_policy="adjacent", **kw)
    own = prepare_pairs(data, ref_policy="self", **kw)
    auto = prepare_pairs(data, **kw)
    assert adj.ref_policy == auto.ref_policy == "adjacent" and own.ref_policy == "self"
    assert torch.equal(adj.ref[0], torch.from_numpy(data[0].refs[0]).permute(2, 0, 1))
    lr = degrade(data[0].hr, DegradationConfig(), sample_seed(0, "s0"))
    self_ref = to_uint8(upsample_to(to_tensor(lr), (64, 64)))
    assert torch.equal(own.ref[0], torch.from_numpy(self_ref).permute(2, 0, 1))
    # the Ref of `self` is the frame itself, so is its depth (area-averaged to LR size)
    assert torch.allclose(own.depth_ref_down[0], F.avg_pool2d(
        torch.from_numpy(data[0].depth)[None, None], 4)[0])
    assert adj.fingerprint != own.fingerprint  # different training data, different weights


def test_adjacent_policy_without_references_names_the_sample():
    with pytest.raises(BenchError, match=r"ref_policy=adjacent.*no reference image for sample 's0'"):
        prepare_pairs(samples(1, refs=False), degradation=DegradationConfig(), seed=0, scale=4,
                      needs_reference=True, ref_policy="adjacent")


# ------------------------------------------------------------------ GT depth, training


def test_trainer_feeds_gt_depth_to_training_and_validation(tmp_path):
    res = train_sr(DEPTH_REF, samples(3), samples(1, prefix="v"), cfg(), tmp_path,
                   progress=False)
    assert res.iterations_done == 2 and np.isfinite(res.best_val_psnr)


def test_trainer_refuses_gt_depth_model_on_data_without_depth(tmp_path):
    with pytest.raises(ConfigError, match=r"'depthref'.*ground-truth depth"):
        train_sr(DEPTH_REF, samples(2, depth=False), samples(1, prefix="v", depth=False),
                 cfg(), tmp_path, progress=False)


# ------------------------------------------------------------------ GT depth, inference


def test_harness_passes_the_right_depth_maps(tmp_path):
    backend = LearnedBackend("depthref", DEPTH_REF, allow_random=True)
    assert backend.needs_depth
    s = samples(1)[0]
    lr = degrade(s.hr, DegradationConfig(), 0)
    d_lr, d_rd = depth_for(s, "adjacent", 4)
    assert torch.allclose(d_rd[0], F.avg_pool2d(torch.from_numpy(s.ref_depths[0])[None, None], 4)[0])
    _, d_self = depth_for(s, "self", 4)
    assert torch.equal(d_self, d_lr)
    with pytest.raises(BenchError, match="depth_source='gt'"):
        backend.upscale(to_tensor(lr), to_tensor(s.refs[0]))  # no depth given
    cache = Cache(tmp_path)
    out = upscale_cached(backend, s, lr, "adjacent", cache, "ctx")
    direct = to_uint8(backend.upscale(to_tensor(lr), to_tensor(s.refs[0]), (d_lr, d_rd)))
    assert np.array_equal(out, direct)
    # a different reference depth is a different input: different output, not a cache hit
    s2 = Sample(id=s.id, hr=s.hr, depth=s.depth, refs=s.refs, ref_depths=(s.ref_depths[0] * 3,))
    assert not np.array_equal(upscale_cached(backend, s2, lr, "adjacent", cache, "ctx"), out)
    no_depth = Sample(id="nodepth", hr=s.hr, refs=s.refs)
    with pytest.raises(BenchError, match="'nodepth' has no depth map"):
        upscale_cached(backend, no_depth, lr, "adjacent", cache, "ctx")
    # self policy: Ref = bicubic-enlarged LR
    assert np.array_equal(reference_for(s, lr, "self", 4), to_uint8(upsample_to(to_tensor(lr), (64, 64))))


@pytest.mark.slow
def test_dsrnet_gt_depth_trains_and_runs_through_the_harness(bench_json, tmp_path):
    """`bench train-sr` + `bench eval-sr` with depth_source=gt (tiny DSRNet+, smoke data),
    then the same with `self` references: separate weights, the policy recorded per row."""
    out = str(tmp_path / "runs")
    gt = ["--backend", "dsrnet-plus", "--profile", "smoke", "--out", out,
          "--set", "sr.hparams.dsrnet-plus={depth_source: gt}",
          "--set", "sr.train.iterations=2", "--set", "sr.train.val_every=2"]
    trained = bench_json("train-sr", *gt)
    res = bench_json("eval-sr", *gt)
    row = res["backends"]["dsrnet-plus"]
    assert np.isfinite(row["psnr_y"]) and row["n_images"] == 2
    trained_self = bench_json("train-sr", *gt, "--set", "sr.ref_policy=self")
    assert trained_self["weights"] != trained["weights"]
    res_self = bench_json("eval-sr", *gt, "--set", "sr.ref_policy=self")
    assert res_self["ref_policy"] == "self" and res["ref_policy"] == "adjacent"
