"""End to end on the smoke profile: `bench run`, resume, caches, kill -9, real-format path."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SMOKE = ("--profile", "smoke")


def _run(bench_json, out: Path, *extra: str):
    return bench_json("run", "--task", "segmentation", *SMOKE, "--out", str(out), *extra)


def _means(result) -> dict:
    return {m: t["mean"] for m, t in result["tables"].items()}


@pytest.mark.slow
def test_run_resume_and_cache(bench_json, tmp_path):
    first = _run(bench_json, tmp_path)
    s = first["summary"]
    assert set(first["tables"]) == {"fcn", "deeplabv3plus"}
    assert s["cells_computed"] == s["cells_total"] == 2 * 3  # 2 models x (HR, LR, SR:bicubic)
    fcn = first["tables"]["fcn"]["mean"]
    assert {"LR", "SR(bicubic)", "HR", "ΔLR", "ΔSR(bicubic)", "ΔHR(bicubic)"} <= set(fcn["Mean"])
    assert fcn["Mean"]["ΔLR"] == pytest.approx(fcn["Mean"]["LR"] - fcn["Mean"]["HR"], abs=1e-3)
    # bicubic SR is the LR variant by construction: identical images, identical IoU
    assert fcn["Mean"]["SR(bicubic)"] == pytest.approx(fcn["Mean"]["LR"], abs=1e-9)

    again = _run(bench_json, tmp_path)  # same command: resumes a finished run
    assert again["summary"]["cells_computed"] == 0
    assert again["summary"]["cache"].get("task_trained", 0) == 0
    assert _means(again) == _means(first)

    fresh = _run(bench_json, tmp_path, "--fresh")  # new run folder, everything from the cache
    c = fresh["summary"]["cache"]
    assert fresh["summary"]["cells_computed"] == 6
    assert c.get("task_trained", 0) == 0 and c.get("task_hit", 0) == 2
    assert c.get("sr_miss", 0) == 0
    assert _means(fresh) == _means(first)

    run_dir = Path(fresh["files"][0]).parents[1]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["profile"] == "smoke" and manifest["protocol"] == "train-on-hr"
    frame = pd.concat(pd.read_csv(p) for p in (run_dir / "rows").glob("*.csv"))
    assert set(frame["protocol"]) == {"train-on-hr"}
    assert not frame.duplicated(["model", "variant", "cls", "metric", "seed"]).any()


def test_table_regenerates_from_store(bench_cli, bench_json, tmp_path):
    result = _run(bench_json, tmp_path)
    run_dir = Path(result["files"][0]).parents[1]
    for f in (run_dir / "tables").iterdir():
        f.unlink()
    table = bench_json("table", "--run", str(run_dir))
    assert _means(table) == _means(result)
    assert (run_dir / "tables" / "segmentation-fcn-iou.md").exists()
    assert (run_dir / "tables" / "segmentation-fcn-iou.tex").exists()
    baseline = tmp_path / "baseline.csv"
    code, _, _ = bench_cli("check", "--run", str(run_dir), "--baseline", str(baseline), "--write-baseline")
    assert code == 0
    code, out, _ = bench_cli("check", "--run", str(run_dir), "--baseline", str(baseline))
    assert code == 0 and "ok" in out
    rows = pd.read_csv(baseline)
    rows.loc[0, "value"] = rows.loc[0, "value"] + 0.5 if rows.loc[0, "metric"] != "latency_ms" else 0
    rows.to_csv(baseline, index=False)
    code, out, _ = bench_cli("check", "--run", str(run_dir), "--baseline", str(baseline), "--tolerance", "0.01")
    assert code == 1 and "regression" in out


@pytest.mark.slow
def test_kill_9_then_rerun_gives_the_uninterrupted_table(tmp_path):
    args = ["run", "--task", "segmentation", *SMOKE, "--out", str(tmp_path / "killed"), "--json"]
    env = {**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / "cache-killed")}
    # SIGKILL after 2 of the 6 cells: mid-run, after FCN's cells, before DeepLabV3+ is trained
    killed = subprocess.run([sys.executable, "-m", "bench.cli", *args],
                            env={**env, "SEWER_BENCH_KILL_AFTER_CELLS": "2"},
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL
    assert len(list((tmp_path / "killed").glob("*/rows/*.csv"))) == 2
    resumed = subprocess.run([sys.executable, "-m", "bench.cli", *args], env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    resumed_json = json.loads(resumed.stdout)
    assert resumed_json["summary"]["cells_computed"] == 4

    clean_env = {**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / "cache-clean")}
    clean = subprocess.run([sys.executable, "-m", "bench.cli", "run", "--task", "segmentation",
                            *SMOKE, "--out", str(tmp_path / "clean"), "--json"], env=clean_env,
                           capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr
    assert _means(resumed_json) == _means(json.loads(clean.stdout))
    run_dir = next((tmp_path / "killed").iterdir())
    frame = pd.concat(pd.read_csv(p) for p in (run_dir / "rows").glob("*.csv"))
    assert not frame.duplicated(["model", "variant", "cls", "metric", "seed"]).any()


@pytest.mark.slow
def test_real_format_pipe_path(bench_json, tmp_path):
    data = tmp_path / "pipe-data"
    bench_json("synth", "--view", "pipe", "--out", str(data), "--n-train", "8", "--n-val", "2", "--n-test", "4")
    from_files = _run(bench_json, tmp_path / "a", "--dataset", "pipe", "--data-root", str(data))
    generated = _run(bench_json, tmp_path / "b")
    # the files hold exactly the generated data, so the numbers agree
    assert _means(from_files) == _means(generated)


def test_eval_sr_json_and_store_rows(bench_json, tmp_path):
    result = bench_json("eval-sr", "--backend", "bicubic", "--dataset", "synthsewer-sr", *SMOKE,
                        "--out", str(tmp_path))
    row = result["backends"]["bicubic"]
    assert {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"} <= set(row)
    assert 15 < row["psnr_y"] < 60 and 0 < row["ssim_y"] <= 1
    rows = pd.concat(pd.read_csv(p) for p in tmp_path.glob("*/rows/*.csv"))
    assert set(rows["metric"]) >= {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}


@pytest.mark.slow
def test_learned_backend_is_trained_on_first_use(bench_json, tmp_path):
    args = ("eval-sr", "--backend", "bicubic", "--backend", "edsr", *SMOKE, "--out", str(tmp_path))
    first = bench_json(*args)
    assert set(first["backends"]) == {"bicubic", "edsr"}
    cache = Path(os.environ["SEWER_BENCH_CACHE"]) / "weights"
    assert list(cache.glob("edsr-*.safetensors")) and list(cache.glob("edsr-*.json"))


@pytest.mark.slow
def test_train_per_variant_protocol(bench_json, tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "own-cache"))  # count every training
    result = _run(bench_json, tmp_path, "--model", "fcn", "--set", "task.protocol=train-per-variant",
                  "--set", "seeds=[0, 1]")
    s = result["summary"]
    assert s["cells_total"] == 6  # 3 variants x 2 seeds, each trained and tested on itself
    assert s["cache"]["task_trained"] == 6
    table = result["tables"]["fcn"]
    assert table["n_seeds"] == 2
    run_dir = Path(result["files"][0]).parents[1]
    frame = pd.concat(pd.read_csv(p) for p in (run_dir / "rows").glob("*.csv"))
    assert set(frame["protocol"]) == {"train-per-variant"} and set(frame["seed"]) == {0, 1}


@pytest.mark.slow
def test_run_with_reference_backend_gt_depth_records_the_policy(bench_json, tmp_path):
    """DSRNet+ (tiny) with ground-truth depth and `self` references inside `bench run`: the
    SR rows carry the policy, the reference-free variants carry none, the manifest says it."""
    result = _run(bench_json, tmp_path, "--model", "fcn", "--backend", "dsrnet-plus",
                  "--set", "sr.hparams.dsrnet-plus={depth_source: gt}",
                  "--set", "sr.ref_policy=self")
    assert result["summary"]["ref_policy"] == "self"
    run_dir = Path(result["files"][0]).parents[1]
    frame = pd.concat(pd.read_csv(p, keep_default_na=False) for p in (run_dir / "rows").glob("*.csv"))
    policy = frame.groupby("variant")["ref_policy"].unique()
    assert list(policy["SR:dsrnet-plus"]) == ["self"]
    assert list(policy["LR"]) == [""] and list(policy["HR"]) == [""]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["sr"]["ref_policy"] == "self"
