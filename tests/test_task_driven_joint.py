"""Task-driven protocols with their own task model (docs/task-driven.md): joint's task step
(the task loss on SR, HR and CQMix(SR, HR), SR frozen), its exact resume inside the trainer,
and the s2t task model's key (the HR model's key and the SR weights key both in it)."""
from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import torch

import bench.training.joint as joint_mod
from bench.datasets.base import Target
from bench.degrade_config import DegradationConfig
from bench.training.joint import JointObjective
from bench.training.td_config import TaskDrivenTrainConfig

from test_task_driven import _fcn
from test_trainer import TINY, TinySR, cfg, make_samples

torch.set_num_threads(1)
FIT = {"batch_size": 2, "lr": 1e-2, "seed": 0}


def task_samples(n: int = 4, size: int = 64):
    rng = np.random.default_rng(5)
    out = make_samples(n, size=size, prefix="t")
    for s in out:  # a labelled blob per image: classes 1..3
        mask = np.zeros((size, size), np.uint8)
        y, x = rng.integers(0, size - 16, 2)
        mask[y:y + 16, x:x + 16] = rng.integers(1, 4)
        s.target = Target(mask=mask)
    return out


def _joint(sr_net=None, task=None, iterations: int = 8) -> JointObjective:
    return JointObjective(sr_net or TinySR(4), task or _fcn(), 1.0, 0, task_samples(),
                          DegradationConfig(), 0, FIT, iterations, 0).train()


def _bytes(net: torch.nn.Module) -> dict[str, bytes]:
    return {k: v.detach().numpy().tobytes() for k, v in net.state_dict().items()}


def test_task_step_trains_the_task_model_on_sr_hr_and_cqmix_with_sr_frozen(monkeypatch):
    torch.manual_seed(0)
    sr_net = TinySR(4)
    torch.nn.init.normal_(sr_net.body[2].weight, std=0.1)  # SR differs from bilinear
    obj = _joint(sr_net)
    task_net = obj.task_model.net
    seen = []
    real_cqmix = joint_mod.cqmix

    def spy(sr, hr, **kw):
        mix, mask = real_cqmix(sr, hr, **kw)
        seen.append((sr.clone(), hr.clone(), mix, mask))
        return mix, mask

    monkeypatch.setattr(joint_mod, "cqmix", spy)
    inputs = []
    real_loss = obj._loss
    obj._loss = lambda x, t: (inputs.append(x.detach().clone()), real_loss(x, t))[1]
    sr_before, task_before = _bytes(sr_net), _bytes(task_net)
    obj.iteration += 1  # as after the SR step of iteration 1
    out = obj.task_step()
    assert set(out) == {"task", "task_sr", "task_hr", "task_cqmix"}
    assert out["task"].item() == pytest.approx(
        (out["task_sr"] + out["task_hr"] + out["task_cqmix"]).item() / 3, rel=1e-6)
    (sr, hr, mix, mask), = seen
    assert 0 < mask.mean().item() < 1 and not torch.equal(sr, hr)
    assert [x.shape for x in inputs] == [sr.shape] * 3
    assert torch.equal(inputs[0], sr) and torch.equal(inputs[1], hr) and torch.equal(inputs[2], mix)
    assert torch.equal(mix, mask * sr + (1 - mask) * hr)
    assert _bytes(sr_net) == sr_before  # SR frozen: byte-identical
    assert all(p.grad is None for p in sr_net.parameters())
    assert _bytes(task_net) != task_before  # the task model trained
    # after the step the task model is frozen again for the next SR step
    assert not task_net.training and not any(p.requires_grad for p in task_net.parameters())
    assert {id(p) for p in obj.parameters()} == {id(p) for p in sr_net.parameters()}


def test_the_task_model_and_its_optimizer_ride_in_the_state_dict():
    obj = _joint()
    for _ in range(2):
        obj.iteration += 1
        obj.task_step()
    state = obj.state_dict()
    assert "_extra_state" in state
    fresh = _joint()
    assert _bytes(fresh.task_model.net) != _bytes(obj.task_model.net)
    fresh.load_state_dict(state)
    assert _bytes(fresh.task_model.net) == _bytes(obj.task_model.net)
    # the same next step (optimizer state too); the trainer seeds dropout per step
    torch.manual_seed(1)
    a = obj.task_step()
    torch.manual_seed(1)
    b = fresh.task_step()
    assert a["task"].item() == b["task"].item()
    assert _bytes(fresh.task_model.net) == _bytes(obj.task_model.net)


def _joint_cfg(tmp_path, monkeypatch, **kw):
    task = _fcn()
    task.save(tmp_path / "task")
    samples = task_samples()
    fake = types.SimpleNamespace(split=lambda name: samples)
    monkeypatch.setattr("bench.datasets.open_dataset", lambda name, **kw: fake)
    td = TaskDrivenTrainConfig(task="segmentation", model="fcn", key="k", warmup=2,
                               directory=str(tmp_path / "task"), protocol="joint", fit=FIT,
                               data={"name": "fake", "seed": 0}, classes=["a", "b", "c"])
    return cfg(objective="task-driven", task_driven=td, **kw)


def test_trainer_joint_resumes_exactly_and_snapshots_the_task_model(tmp_path, monkeypatch):
    from tasks.base import read_model_dir

    train, val = make_samples(4), make_samples(2, prefix="v")
    c = _joint_cfg(tmp_path, monkeypatch)
    full = train_sr(TINY, train, val, c, tmp_path / "full", progress=False)
    part = train_sr(TINY, train, val, c, tmp_path / "part", progress=False, stop_after=2)
    done = train_sr(TINY, train, val, c, tmp_path / "part", resume=True, progress=False)
    a, b = full.model.state_dict(), done.model.state_dict()
    assert part.stopped_early and all(torch.equal(a[k], b[k]) for k in a)
    ta, _ = read_model_dir(tmp_path / "full" / "best-task", "fcn")
    tb, _ = read_model_dir(tmp_path / "part" / "best-task", "fcn")
    assert set(ta) == set(tb) and all(torch.equal(ta[k], tb[k]) for k in ta)
    t0, _ = read_model_dir(tmp_path / "task", "fcn")
    assert any(not torch.equal(ta[k], t0[k]) for k in ta)  # jointly trained: not the HR one
    assert isinstance(full.model, TinySR)


def test_s2t_key_holds_the_hr_model_key_and_the_sr_weights_key(tmp_path, monkeypatch):
    import bench.own_task as own
    from bench.backends import resolve_backends
    from bench.cache import Cache
    from bench.config import load_config
    from bench.plan import Group
    from bench.variants import Variant

    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path))
    smoke = load_config("smoke")
    frozen, s2t, joint = resolve_backends(["edsr+td-frozen", "edsr+td-s2t", "edsr+td-joint"],
                                          smoke)
    # s2t's SR network is frozen's: the same weights file
    assert s2t.weights_key == frozen.weights_key and s2t.weights_name == "edsr+td-frozen"
    assert s2t.weights_stem(Cache(tmp_path)) == frozen.weights_stem(Cache(tmp_path))
    assert joint.weights_key not in (frozen.weights_key, s2t.weights_key)
    hr_keys = {"HR": "hr-1"}
    monkeypatch.setattr(own, "task_model_key",
                        lambda plan, g, fit, fp, settings: hr_keys.get(g.trained_on.label,
                                                                       f"sr-{fp}"))
    group = Group("fcn", 0, Variant.sr(s2t), ())
    key = own.group_task_key(None, group, None, {}, "fp")
    hr_keys["HR"] = "hr-2"  # another HR model: another fine-tune
    assert own.group_task_key(None, group, None, {}, "fp") != key
    hr_keys["HR"] = "hr-1"
    assert own.group_task_key(None, group, None, {}, "fp") == key
    other = dataclasses.replace(s2t, weights_key="other")  # other SR weights: another one
    assert own.group_task_key(None, Group("fcn", 0, Variant.sr(other), ()), None, {},
                              "fp") != key
    assert own.group_task_key(None, group, None, {}, "fp2") != key  # other SR outputs
    from bench.task_driven import joint_task_key

    jg = Group("fcn", 0, Variant.sr(joint), ())
    assert own.group_task_key(None, jg, None, {}, "fp") == joint_task_key(joint)
    assert own.protocol_of(Group("fcn", 0, Variant.sr(frozen), ())) is None


from bench.training.trainer import train_sr  # noqa: E402


def test_frozen_train_config_dumps_as_before():
    """The joint-only fields are left out of a frozen config's dump, so a frozen training's
    last.pt from before they existed still resumes (check_resume_config compares dumps)."""
    frozen = TaskDrivenTrainConfig(task="segmentation", model="fcn", key="k", directory="d")
    assert set(frozen.model_dump(mode="json")) == {"task", "model", "settings", "key",
                                                   "directory", "lambda_tdp", "warmup",
                                                   "protocol"}
    joint = TaskDrivenTrainConfig(task="segmentation", model="fcn", key="k", directory="d",
                                  protocol="joint", fit=FIT, data={"name": "x"}, classes=["a"])
    assert TaskDrivenTrainConfig.model_validate(joint.model_dump(mode="json")) == joint
