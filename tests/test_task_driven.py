"""Task-driven SR (bench/training/task_driven.py): TDP against a slow per-sample reference
written from the formula (values and gradients), gradients reach the SR net and never the
frozen task model (byte-identical after a step), the warm-up, CQMix, and the trainer with
exact resume."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.training.task_driven import TaskDrivenObjective, cqmix, cqmix_mask, tdp_loss
from bench.training.td_config import TaskDrivenTrainConfig
from tasks import TASK_MODELS

from test_trainer import TINY, TinySR, cfg, make_samples

torch.set_num_threads(1)


def _fcn(seed: int = 0):
    torch.manual_seed(seed)
    model = TASK_MODELS.get("segmentation/fcn")()
    model.net = model.build_network("tiny", 4).eval()
    model.meta = {"model": "fcn", "size": "tiny", "num_classes": 4, "classes": ["a", "b", "c"],
                  "image_size": 64, "seed": seed}
    return model


class TwoTaps:
    """A toy task model with two taps of different sizes (the weighting is visible)."""

    task, name, feature_taps = "toy", "two", "conv, pooled conv"

    def __init__(self):
        torch.manual_seed(3)
        self.net = torch.nn.Conv2d(3, 5, 3, padding=1)

    def networks(self):
        return {"": self.net}

    def features(self, x):
        a = self.net(x)
        return [a, F.avg_pool2d(torch.tanh(a), 4) * 7]


def slow_tdp(task, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """TDP = (1/T) Σ_t mean_{b,c,h,w} |φ_t(SR) − φ_t(HR)|, one sample and element at a time."""
    per_tap = None
    for b in range(sr.shape[0]):
        f_sr = task.features(sr[b:b + 1])
        with torch.no_grad():
            f_hr = task.features(hr[b:b + 1])
        if per_tap is None:
            per_tap = [[] for _ in f_sr]
        for t, (s, h) in enumerate(zip(f_sr, f_hr)):
            per_tap[t].append((s - h).abs().flatten())
    means = [torch.cat(parts).sum() / sum(p.numel() for p in parts) for parts in per_tap]
    return sum(means) / len(means)


@pytest.mark.parametrize("make_task", [TwoTaps, _fcn])
def test_tdp_matches_the_slow_reference_values_and_gradients(make_task):
    task = make_task()
    for net in task.networks().values():
        net.eval().requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(3, 3, 32, 32, generator=g)
    sr = (hr + 0.1 * torch.randn(3, 3, 32, 32, generator=g)).requires_grad_(True)
    obj = TaskDrivenObjective(torch.nn.Identity(), task, 1.0, 0, False)
    fast, slow = obj.tdp(sr, hr), slow_tdp(task, sr, hr)
    assert fast.item() == pytest.approx(slow.item(), rel=1e-5) and fast.item() > 0
    (g_fast,), (g_slow,) = torch.autograd.grad(fast, [sr]), torch.autograd.grad(slow, [sr])
    torch.testing.assert_close(g_fast, g_slow, rtol=1e-4, atol=1e-8)
    assert g_fast.abs().sum() > 0
    assert tdp_loss(task.features(hr), task.features(hr)).item() == 0.0


def test_tdp_weights_taps_equally():
    a, b = [torch.ones(1, 1, 2, 2)], [torch.zeros(1, 1, 2, 2)]
    big, small = torch.ones(1, 1, 8, 8), torch.zeros(1, 1, 8, 8)
    assert tdp_loss(a + [big], b + [small]).item() == pytest.approx(1.0)
    assert tdp_loss(a + [big * 3], b + [small]).item() == pytest.approx(2.0)


def test_gradients_reach_sr_never_the_frozen_task_model():
    torch.manual_seed(0)
    task = _fcn()
    before = {k: v.clone() for k, v in task.net.state_dict().items()}
    sr_net = TinySR(4)
    obj = TaskDrivenObjective(sr_net, task, 1.0, 0, False).train()
    # the task model is outside the module tree: not optimised, not checkpointed
    assert {id(p) for p in obj.parameters()} == {id(p) for p in sr_net.parameters()}
    assert all(k.startswith("model.") or k == "iteration" for k in obj.state_dict())
    assert not task.net.training and obj.inference_model() is sr_net
    opt = torch.optim.Adam(obj.parameters(), lr=1e-2)
    sr_before = {k: v.clone() for k, v in sr_net.state_dict().items()}
    g = torch.Generator().manual_seed(2)
    batch = {"lr": torch.rand(2, 3, 8, 8, generator=g), "hr": torch.rand(2, 3, 32, 32, generator=g)}
    out = obj.training_losses(batch)
    assert set(out) == {"total", "l1", "tdp", "sr"} and out["tdp"] > 0
    opt.zero_grad()
    out["total"].backward()
    assert all(p.grad is None for p in task.net.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in sr_net.parameters())
    # TDP alone also reaches the SR net (the L1 part is not what carries it)
    tdp_grad = torch.autograd.grad(obj.tdp(sr_net(batch["lr"]), batch["hr"]),
                                   sr_net.body[2].weight)[0]
    assert tdp_grad.abs().sum() > 0
    opt.step()
    after = task.net.state_dict()
    assert all(before[k].numpy().tobytes() == after[k].numpy().tobytes() for k in before)
    assert any(not torch.equal(sr_before[k], v) for k, v in sr_net.state_dict().items())


def test_tdp_switches_on_after_the_warmup():
    obj = TaskDrivenObjective(TinySR(4), TwoTaps(), 0.5, 2, False).train()
    batch = {"lr": torch.rand(1, 3, 8, 8), "hr": torch.rand(1, 3, 32, 32)}
    seen = ["tdp" in obj.training_losses(batch) for _ in range(4)]
    assert seen == [False, False, True, True] and int(obj.iteration) == 4
    out = obj.training_losses(batch)
    assert out["total"].item() == pytest.approx(out["l1"].item() + 0.5 * out["tdp"].item(),
                                                rel=1e-6)
    obj.eval()
    obj.training_losses(batch)
    assert int(obj.iteration) == 5  # evaluation does not advance the schedule


def test_cqmix_mask_follows_the_formula_within_the_batch():
    g = torch.Generator().manual_seed(0)
    b, h, w = 6, 64, 48
    m = cqmix_mask(b, h, w, generator=g)
    assert m.shape == (b, 1, h, w) and set(m.unique().tolist()) <= {0.0, 1.0}
    cells = m.view(b, 1, 8, h // 8, 8, w // 8)  # 8x8 blocks of (h/8)x(w/8) pixels, constant
    assert torch.equal(cells.amax((3, 5)), cells.amin((3, 5)))
    frac = m.mean().item()
    assert 0.3 < frac < 0.7  # Bernoulli(0.5) over 384 cells
    sr = torch.arange(b, dtype=torch.float).view(b, 1, 1, 1).expand(b, 3, h, w) + 100
    hr = -torch.arange(b, dtype=torch.float).view(b, 1, 1, 1).expand(b, 3, h, w) - 100
    g = torch.Generator().manual_seed(0)
    mix, mask = cqmix(sr, hr, generator=g)
    assert torch.equal(mask, m)
    assert torch.equal(mix, mask * sr + (1 - mask) * hr)
    for i in range(b):  # every pixel of item i comes from SR[i] or HR[i], never another item
        assert set(mix[i].unique().tolist()) <= {100.0 + i, -100.0 - i}
    with pytest.raises(ValueError, match="one shape"):
        cqmix(sr, hr[:, :, :8])


def _td_cfg(tmp_path, **kw):
    task = _fcn()
    task.save(tmp_path / "task")
    td = TaskDrivenTrainConfig(task="segmentation", model="fcn", key="k", warmup=3,
                               directory=str(tmp_path / "task"), lambda_tdp=1.0)
    return cfg(objective="task-driven", task_driven=td, **kw)


def test_trainer_task_driven_runs_and_resumes_exactly(tmp_path):
    train, val = make_samples(4), make_samples(2, prefix="v")
    c = _td_cfg(tmp_path)
    full = train_sr(TINY, train, val, c, tmp_path / "full", progress=False)
    part = train_sr(TINY, train, val, c, tmp_path / "part", progress=False, stop_after=2)
    done = train_sr(TINY, train, val, c, tmp_path / "part", resume=True, progress=False)
    a, b = full.model.state_dict(), done.model.state_dict()
    assert part.stopped_early and set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    plain = train_sr(TINY, train, val, cfg(), tmp_path / "plain", progress=False)
    p = plain.model.state_dict()
    assert any(not torch.equal(a[k], p[k]) for k in a)  # TDP changed the weights
    assert isinstance(full.model, TinySR)  # the published weights are the SR net's


def test_trainer_refuses_a_missing_task_model(tmp_path):
    from bench.errors import ConfigError

    c = _td_cfg(tmp_path)
    c.task_driven.directory = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="not trained"):
        train_sr(TINY, make_samples(2), make_samples(1, prefix="v"), c, tmp_path / "o",
                 progress=False)


@pytest.mark.parametrize("backend", ["dsrnet-plus", "dsrnet"])
def test_dsrnet_reference_and_depth_go_through_the_tdp_path(tmp_path, backend):
    """DSRNet: SR = dsrnet(LR, Ref, depth...) with its own losses (L_rec + L_dep), + TDP; the
    GAN variant (dsrnet) keeps its discriminator step. Trains end to end with the trainer."""
    from sr_backends import BACKENDS

    spec = BACKENDS.get(backend)
    torch.manual_seed(0)
    sr_net = spec.build(**{**spec.hparams, **spec.tiny})
    obj = TaskDrivenObjective(sr_net, _fcn(), 1.0, 0, True).train()
    g = torch.Generator().manual_seed(0)
    batch = {"lr": torch.rand(2, 3, 16, 16, generator=g),
             "ref": torch.rand(2, 3, 64, 64, generator=g),
             "hr": torch.rand(2, 3, 64, 64, generator=g),
             "depth_lr": torch.rand(2, 1, 16, 16, generator=g) * 5,
             "depth_ref_down": torch.rand(2, 1, 16, 16, generator=g) * 5}
    out = obj.training_losses(batch)
    assert {"rec", "tdp", "total", "sr"} <= set(out) and out["tdp"] > 0
    assert out["sr"].shape == (2, 3, 64, 64)
    assert callable(getattr(obj, "discriminator_step", None)) == (backend == "dsrnet")
    res = train_sr(backend, make_samples(3, with_ref=True),
                   make_samples(1, prefix="v", with_ref=True),
                   _td_cfg(tmp_path, backend=backend, tiny=True, patch_size=None, batch_size=2,
                           iterations=2, val_every=2), tmp_path / "o", progress=False)
    assert res.iterations_done == 2 and type(res.model) is type(sr_net)


from bench.training.trainer import train_sr  # noqa: E402
