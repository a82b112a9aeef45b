"""Task-driven SR at the boundary: names (BASE+td[-PROTOCOL]), one-line errors with exit 2,
weights keys (plain keys unchanged), and `bench train-sr` end to end on the smoke profile with
a kill -9 and resume (the task model is trained first, and said so)."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.backends import resolve_backends
from bench.cli import main
from bench.config import load_config
from bench.errors import ConfigError
from bench.training.config import SRTrainSettings


def _err(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("sets, backend, expected", [
    (["sr.train.objective=task-drivn"], "edsr", "Did you mean 'task-driven'"),
    (["sr.task_driven.protocol=jiont"], "edsr", "Did you mean 'joint'"),
    ([], "edsr+td-jiont", "Did you mean 'joint'"),
    ([], "bicubic+td", "has nothing to train"),
    ([], "edsrr+td", "Did you mean 'edsr'"),
    (["task.name=detection"], "edsr+td-joint", "joint is implemented for segmentation only"),
    (["task.name=classification"], "edsr+td-s2t", "implemented for segmentation only"),
    ([], "dsrnet-plus+td-joint", "implemented for single-image SR backends only"),
    (["task.protocol=train-per-variant"], "edsr+td-s2t", "needs task.protocol=train-on-hr"),
    (["sr.task_driven.finetune_epochs=0"], "edsr+td-s2t", "finetune_epochs"),
    (["sr.task_driven.protocol=joint"], "edsr+td", "use edsr+td-joint"),
    (["sr.train.objective=task-driven", "sr.task_driven.protocol=s2t"], "edsr",
     "use edsr+td-s2t"),
    (["sr.task_driven.model=fcm"], "edsr+td", "Did you mean 'segmentation/fcn'"),
    (["sr.task_driven.task=detection"], "edsr+td", "set task.name=detection"),
])
def test_one_line_errors(capsys, tmp_path, monkeypatch, sets, backend, expected):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path))
    argv = ["train-sr", "--backend", backend, "--profile", "smoke"]
    for s in sets:
        argv += ["--set", s]
    assert expected in _err(capsys, argv)


def test_plan_gives_s2t_and_joint_columns_their_own_groups(capsys, tmp_path, monkeypatch):
    """HR, LR and the other SR columns stay with each model's HR-trained group; s2t gets a
    group per model and seed, joint one (its task model's); s2t's SR weights are frozen's."""
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path))
    assert main(["run", "--profile", "smoke", "--dry-run", "--json", "--out",
                 str(tmp_path / "out"), "--set",
                 "sr.backends=[bicubic,edsr+td-frozen,edsr+td-s2t,edsr+td-joint]"]) == 0
    plan = json.loads(capsys.readouterr().out)
    groups = {(g["model"], g["trained_on"]): g["cells"] for g in plan["groups"]}
    shared = ["HR", "LR", "SR:bicubic", "SR:edsr+td-frozen"]
    assert groups == {("fcn", "HR"): shared, ("deeplabv3plus", "HR"): shared,
                      ("fcn", "SR:edsr+td-s2t"): ["SR:edsr+td-s2t"],
                      ("deeplabv3plus", "SR:edsr+td-s2t"): ["SR:edsr+td-s2t"],
                      ("fcn", "SR:edsr+td-joint"): ["SR:edsr+td-joint"]}
    assert plan["cells_total"] == 11
    (frozen, s2t, joint) = resolve_backends(["edsr+td-frozen", "edsr+td-s2t", "edsr+td-joint"],
                                            load_config("smoke"))
    assert s2t.weights_key == frozen.weights_key != joint.weights_key
    assert s2t.task_driven.sr_protocol == "frozen" and joint.task_driven.sr_protocol == "joint"
    assert s2t.task_driven.finetune_epochs == max(1, load_config("smoke").task.epochs // 4)


def test_joint_refuses_a_run_with_other_seeds(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path))
    err = _err(capsys, ["run", "--profile", "smoke", "--model", "fcn", "--dry-run",
                        "--out", str(tmp_path / "out"), "--set", "seeds=[0,1]",
                        "--set", "sr.backends=[edsr+td-joint]"])
    assert "joint trains one task model (fcn, seed 0)" in err and "seeds=[0]" in err


def test_a_task_model_without_feature_taps_is_refused(capsys, tmp_path, monkeypatch):
    from tasks.segmentation.models import FCNModel

    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(FCNModel, "feature_taps", "")
    err = _err(capsys, ["train-sr", "--backend", "edsr+td", "--profile", "smoke",
                        "--set", "sr.task_driven.model=fcn"])
    assert "segmentation/fcn model has no feature taps" in err


def test_name_scheme():
    from bench.task_driven import parse_name

    assert parse_name("edsr") is None and parse_name("onnx:/m/x+td-1.onnx") is None
    assert parse_name("edsr+td") == ("edsr", None)
    assert parse_name("dsrnet-plus+td-frozen") == ("dsrnet-plus", "frozen")
    with pytest.raises(ConfigError, match="Known: edsr\\+td-frozen, edsr\\+td-s2t"):
        parse_name("edsr+td-x")


def test_weights_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path))
    assert "objective" not in SRTrainSettings().identity_json()  # plain keys stay as they were
    smoke = load_config("smoke")
    (plain,) = resolve_backends(["edsr"], smoke)
    (explicit,) = resolve_backends(["edsr"], load_config("smoke", overrides=[
        "sr.train.objective=pixel"]))
    assert plain.weights_key == explicit.weights_key and plain.task_driven is None
    both = resolve_backends(["edsr", "edsr+td", "edsr+td-frozen"], smoke)
    assert [b.name for b in both] == ["edsr", "edsr+td", "edsr+td-frozen"]
    assert both[0].weights_key == plain.weights_key
    td = both[2].task_driven
    assert (td.task, td.model, td.seed, td.protocol) == ("segmentation", "fcn", 0, "frozen")
    assert td.warmup == smoke.sr.train.iterations // 10 and td.lambda_tdp == 1.0
    assert both[1].weights_key != plain.weights_key
    (glob,) = resolve_backends(["edsr"], load_config("smoke", overrides=[
        "sr.train.objective=task-driven"]))
    assert glob.task_driven is not None and glob.weights_key not in (plain.weights_key, None)
    for over in ("sr.task_driven.lambda_tdp=0.5", "sr.task_driven.warmup=3",
                 "sr.task_driven.model=deeplabv3plus", "task.epochs=3"):
        (other,) = resolve_backends(["edsr+td"], load_config("smoke", overrides=[over]))
        assert other.weights_key != both[1].weights_key, over
        (base,) = resolve_backends(["edsr"], load_config("smoke", overrides=[over]))
        assert base.weights_key == plain.weights_key, over


# ------------------------------------------------------------------ CLI, end to end
SMOKE = ["--profile", "smoke", "--set", "sr.train.iterations=4", "--set",
         "sr.train.val_every=2", "--json"]


def _bench(args, cache: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=900,
                          env={**os.environ, "SEWER_BENCH_CACHE": str(cache), **env})


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.slow
def test_train_sr_task_driven_smoke_kill_9_resume(tmp_path):
    cache = tmp_path / "cache"
    args = ["train-sr", "--backend", "edsr+td-frozen", *SMOKE]
    full = _bench(args, cache)
    assert full.returncode == 0, full.stderr
    assert "segmentation/fcn model trained on HR" in full.stderr and "training it first" \
        in full.stderr
    result = json.loads(full.stdout)
    weights = result["weights"]
    assert result["backend"] == "edsr+td-frozen" and "edsr+td-frozen-" in weights
    meta = json.loads(Path(weights).with_suffix(".json").read_text())
    tc = meta["train_config"]
    assert tc["objective"] == "task-driven" and tc["task_driven"]["protocol"] == "frozen"
    assert tc["task_driven"]["model"] == "fcn"
    first = _sha(weights)
    # kill -9 at the 5th atomic write of the SR training (log.csv, best of iteration 2 (2),
    # last.pt, then the best weights of iteration 4: killed there); the task model is cached
    killed = _bench([*args, "--fresh"], cache, SEWER_BENCH_KILL_AT_WRITE="5")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not Path(weights).exists()
    again = _bench(args, cache)
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr and "training it first" not in again.stderr
    assert _sha(json.loads(again.stdout)["weights"]) == first


@pytest.mark.slow
def test_run_shows_plain_and_task_driven_side_by_side(tmp_path):
    """One `bench run`: edsr and edsr+td-frozen are two SR columns; the HR task model that
    drives the SR training is the one the run evaluates with (trained once, then a hit)."""
    from bench.store import load_runs

    out = tmp_path / "out"
    res = _bench(["run", *SMOKE, "--model", "fcn", "--out", str(out), "--set",
                  "sr.backends=[edsr,edsr+td-frozen]"], tmp_path / "cache")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)["summary"]
    assert summary["cache"]["task_hit"] == 1 and summary["cache"].get("task_trained", 0) == 0
    assert summary["cache"]["weights_trained"] == 2
    rows = load_runs(out)
    assert {"HR", "LR", "SR:edsr", "SR:edsr+td-frozen"} <= set(rows["variant"])
    table = next(out.glob("*/tables/segmentation-fcn-iou.md")).read_text()
    assert "SR(edsr)" in table and "SR(edsr+td-frozen)" in table


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["s2t", "joint"])
def test_run_own_task_model_protocols_kill_9_and_rerun_give_identical_rows(tmp_path,
                                                                          protocol):
    """`bench run` with edsr+td-s2t / edsr+td-joint: the column is in the table, scored by
    its own task model (an extra group), and a kill -9 in the middle of the SR training (the
    write after its first last.pt) then a rerun gives the uninterrupted run's rows."""
    from bench.store import load_runs

    backend = f"edsr+td-{protocol}"
    args = ["run", *SMOKE, "--task", "segmentation", "--model", "fcn", "--set",
            f"sr.backends=[bicubic,{backend}]"]
    log = tmp_path / "writes.txt"
    full = _bench([*args, "--out", str(tmp_path / "a")], tmp_path / "ca",
                  SEWER_BENCH_COUNT_WRITES=str(log))
    assert full.returncode == 0, full.stderr
    assert f"trained on SR:{backend}" in full.stderr  # its own group
    table = next((tmp_path / "a").glob("*/tables/segmentation-fcn-iou.md")).read_text()
    assert f"SR({backend})" in table and "scored by its own task model" in table
    writes = log.read_text().splitlines()
    first_ckpt = next(int(w.split()[0]) for w in writes  # last.pt's temp (.tmp-*.pt)
                      if "-train/" in w and w.endswith(".pt"))
    out, cache = tmp_path / "b", tmp_path / "cb"
    killed = _bench([*args, "--out", str(out)], cache,
                    SEWER_BENCH_KILL_AT_WRITE=str(first_ckpt + 1))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list(cache.rglob("last.pt")), "killed mid-training: a checkpoint to resume from"
    again = _bench([*args, "--out", str(out)], cache)
    assert again.returncode == 0, again.stderr
    cols = ["variant", "cls", "metric", "value", "seed"]
    a = load_runs(tmp_path / "a")[cols].sort_values(cols).reset_index(drop=True)
    b = load_runs(out)[cols].sort_values(cols).reset_index(drop=True)
    assert f"SR:{backend}" in set(a["variant"]) and a.equals(b)
    assert json.loads(full.stdout)["tables"] == json.loads(again.stdout)["tables"]


@pytest.mark.slow
def test_train_sr_joint_publishes_its_task_model_and_fresh_retrains_both(tmp_path,
                                                                         monkeypatch):
    from bench.cache import Cache
    from bench.task_driven import joint_task_key

    cache = tmp_path / "cache"
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(cache))
    # threads fixed: the task model's key holds them (this process's may differ)
    (backend,) = resolve_backends(["edsr+td-joint"], load_config("smoke", overrides=[
        "sr.train.iterations=4", "sr.train.val_every=2", "threads=1"]))
    task_dir = Cache(cache).task_dir(joint_task_key(backend))
    args = ["train-sr", "--backend", "edsr+td-joint", *SMOKE, "--set", "threads=1"]
    full = _bench(args, cache)
    assert full.returncode == 0, full.stderr
    weights = json.loads(full.stdout)["weights"]
    first = _sha(weights), _sha(task_dir / "model.safetensors")
    killed = _bench([*args, "--fresh"], cache, SEWER_BENCH_KILL_AT_WRITE="5")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not task_dir.exists() and not Path(weights).exists()  # the pair goes together
    again = _bench(args, cache)
    assert again.returncode == 0, again.stderr
    assert (_sha(weights), _sha(task_dir / "model.safetensors")) == first
