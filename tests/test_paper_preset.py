"""The `paper-protocol` preset (configs/presets/paper-protocol.yaml): DSRNet trained with adjacent
references and run downstream with self-reference, D and A as the SR columns, the classification
Mean over the paper's 15 classes; end to end on the smoke profile."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.config import load_config
from bench.datasets.base import Sample
from bench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "configs" / "presets" / "paper-protocol.yaml"


def _samples(with_refs: bool):
    img = np.zeros((16, 16, 3), np.uint8)
    return [Sample(f"s{i}", img, refs=(img,) if with_refs else ()) for i in range(2)]


def test_preset_values_and_the_evaluation_policy():
    from bench.backends import ref_policy_for

    cfg = load_config("smoke", PRESET, overrides=["task.name=classification"])
    assert cfg.sr.backends == ["dsrnet", "atd-light"]
    assert (cfg.sr.ref_policy, cfg.sr.eval_ref_policy) == ("adjacent", "self")
    assert cfg.task.mean_classes == "paper15" and cfg.profile == "smoke"
    # evaluation takes eval_ref_policy; without it, ref_policy as before
    assert ref_policy_for(_samples(True), cfg) == "self"
    plain = load_config("smoke", overrides=["sr.ref_policy=adjacent"])
    assert plain.sr.eval_ref_policy is None and ref_policy_for(_samples(True), plain) == "adjacent"
    assert plain.fingerprint() != load_config(
        "smoke", overrides=["sr.ref_policy=adjacent", "sr.eval_ref_policy=self"]).fingerprint()
    with pytest.raises(ConfigError, match="eval_ref_policy"):
        load_config("smoke", overrides=["sr.eval_ref_policy=next"])


def test_evaluation_policy_keys_the_sr_outputs_not_the_weights():
    from bench.backends import resolve_backends, sr_context

    a = load_config("smoke", overrides=["sr.ref_policy=adjacent"])
    b = load_config("smoke", overrides=["sr.ref_policy=adjacent", "sr.eval_ref_policy=self"])
    # same training policy -> same trained weights
    ka = {r.name: r.weights_key for r in resolve_backends(["dsrnet"], a)}
    kb = {r.name: r.weights_key for r in resolve_backends(["dsrnet"], b)}
    assert ka == kb
    # the resolved evaluation policy is part of the SR-output cache context
    assert sr_context("fp", a, "adjacent") != sr_context("fp", b, "self")


def test_preset_runs_end_to_end_on_smoke(bench_json, tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))
    result = bench_json("run", "--task", "segmentation", "--profile", "smoke",
                        "--config", str(PRESET), "--out", str(tmp_path / "runs"),
                        "--model", "fcn", "--set", "threads=1",
                        # tiny budgets: this checks the protocol's plumbing, not its numbers
                        "--set", "sr.hparams.dsrnet={depth_source: gt}",
                        "--set", "sr.train.iterations=2", "--set", "sr.train.val_every=1",
                        "--set", "task.epochs=1")
    assert result["summary"]["ref_policy"] == "self"
    run_dir = Path(result["files"][0]).parents[1]
    frame = pd.concat(pd.read_csv(p, keep_default_na=False) for p in (run_dir / "rows").glob("*.csv"))
    assert {"SR:dsrnet", "SR:atd-light", "LR", "HR"} <= set(frame["variant"])
    assert set(frame.loc[frame["variant"] == "SR:dsrnet", "ref_policy"]) == {"self"}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["sr"]["ref_policy"] == "adjacent"
    assert manifest["config"]["sr"]["eval_ref_policy"] == "self"
    # DSRNet's weights were trained with adjacent references (its sidecar says so)
    sidecars = [json.loads(p.read_text())
                for p in (tmp_path / "cache" / "weights").glob("dsrnet-*.json")]
    assert sidecars and {s["ref_policy"] for s in sidecars} == {"adjacent"}
    # and the comparison report reads the run: D = dsrnet, A = atd-light
    from bench.report.paper_compare import compare, load_ours

    cmp = compare(load_ours(run_dir))
    assert set(cmp["ours_column"]) >= {"SR(dsrnet)", "SR(atd-light)"}


def test_a_preset_is_named_by_its_name(tmp_path, monkeypatch):
    by_name = load_config("smoke", Path("paper-protocol"))
    assert by_name.sr.eval_ref_policy == "self" and by_name == load_config("smoke", PRESET)
    with pytest.raises(ConfigError, match="not found"):
        load_config("smoke", Path("paper-protocl"))
    # a file of that name in the working folder wins over the preset
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paper-protocol").write_text("seeds: [3]\n")
    assert load_config("smoke", Path("paper-protocol")).seeds == [3]
