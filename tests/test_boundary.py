"""Names are resolved once at the boundary: the task (ResolvedTask), its models, profiles."""
from __future__ import annotations

import pickle

import pytest

from bench.config import BenchConfig, load_config, profile_names
from bench.errors import ConfigError
from bench.resolved_task import resolve_task, resolve_task_of


def test_resolved_task_carries_spec_models_and_factory():
    task = resolve_task("segmentation", ["fcn"])
    assert task.name == "segmentation" and task.models == ("fcn",)
    assert task.target == "mask" and "iou" in {m.name for m in task.metrics}
    assert task.model_targets["fcn"].startswith("tasks.segmentation")
    assert pickle.loads(pickle.dumps(task)) == task  # ships to other processes (Ray)
    assert "FCN" in task.describe_model("fcn", "tiny")


@pytest.mark.parametrize("models, needle", [
    (["fcnn"], "unknown task model 'segmentation/fcnn'. Did you mean 'segmentation/fcn'"),
    ([], "task.models is empty"),
    (["fcn", "fcn"], "lists a model twice"),
])
def test_bad_task_models_fail_in_one_line(models, needle):
    with pytest.raises(ConfigError) as e:
        resolve_task("segmentation", models)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_task_models_are_checked_before_any_data_or_training(tmp_path, monkeypatch):
    """Planning resolves the task first: a typo fails before the data is opened and before
    any SR backend (here a learned one that would need training) is touched."""
    import bench.plan
    import bench.runner

    def boom(*a, **k):
        raise AssertionError("data opened / plan made before the task models were checked")

    monkeypatch.setattr(bench.runner, "open_inputs", boom)
    monkeypatch.setattr(bench.plan, "open_task_dataset", boom)
    cfg = load_config("smoke", overrides=["task.models=[fcnn]", "sr.backends=[edsr]",
                                          f"out={tmp_path}", f"cache_dir={tmp_path / 'c'}"])
    with pytest.raises(ConfigError, match="segmentation/fcnn"):
        bench.runner.open_and_plan(cfg, "cpu")
    assert not (tmp_path / "c").exists()


def test_config_task_resolves():
    cfg = load_config("smoke", **{"task.name": "detection"})
    assert resolve_task_of(cfg).models == tuple(cfg.task.models)


def test_profiles_come_from_the_config_folder():
    assert {"smoke", "quick", "paper"} <= set(profile_names())
    with pytest.raises(ConfigError, match="Did you mean 'smoke'"):
        load_config("smok")
    with pytest.raises(Exception):
        BenchConfig(profile="nope")
