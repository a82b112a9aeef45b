"""Warnings a result needs: the smoke profile says its numbers are meaningless, and a run on
a real --data-root says when its SR backends learned from other data (the plan and the run)."""
from __future__ import annotations

import pytest

from bench.console import SMOKE_NOTE


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from bench.cli import main

    root = tmp_path_factory.mktemp("notes") / "pipe"
    assert main(["synth", "--view", "pipe", "--out", str(root), "--n-train", "2", "--n-val",
                 "1", "--n-test", "2", "--json"]) == 0
    return root


def test_plan_says_sr_backends_learn_from_other_data(pipe, bench_json, tmp_path):
    info = bench_json("run", "--profile", "smoke", "-b", "bicubic", "-b", "edsr", "--dataset",
                      "pipe", "--data-root", str(pipe), "--dry-run", "--out", str(tmp_path))
    (data_note,) = [n for n in info["notes"] if "trained on" in n]
    assert "edsr" in data_note and "bicubic" not in data_note  # bicubic learns nothing
    assert "synthsewer-sr" in data_note and str(pipe) in data_note
    assert SMOKE_NOTE in info["notes"]


def test_no_data_note_for_generated_data_or_fixed_backends(pipe, bench_json, tmp_path):
    info = bench_json("run", "--profile", "smoke", "-b", "edsr", "--dry-run", "--out",
                      str(tmp_path))
    assert info["notes"] == [SMOKE_NOTE]
    info = bench_json("run", "--profile", "quick", "-b", "bicubic", "--dataset", "pipe",
                      "--data-root", str(pipe), "--dry-run", "--out", str(tmp_path))
    assert info["notes"] == []


def test_smoke_note_is_one_line_in_plain_output(pipe, bench_cli, tmp_path):
    code, out, err = bench_cli("run", "--profile", "smoke", "-b", "edsr", "--dataset", "pipe",
                               "--data-root", str(pipe), "--dry-run", "--out", str(tmp_path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines.count(SMOKE_NOTE) == 1
    assert sum("are trained on synthsewer-sr, not on the task's data" in ln for ln in lines) == 1


def test_manifest_states_row_units_and_the_cpu_capability(pipe, bench_json, tmp_path):
    """rows/*.csv hold store units (IoU as a fraction), tables % : the manifest says which;
    it also records the ATen CPU capability the run used (docs/uncertainty.md)."""
    import json

    import torch

    result = bench_json("run", "--profile", "smoke", "-b", "bicubic", "--model", "fcn",
                        "--dataset", "pipe", "--data-root", str(pipe), "--out", str(tmp_path),
                        "--set", "task.epochs=1")
    (manifest,) = [json.loads(p.read_text()) for p in tmp_path.glob("*/manifest.json")]
    assert manifest["row_units"]["iou"].startswith("fraction (% = value x 100")
    assert manifest["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert result["tables"]
