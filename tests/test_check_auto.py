"""`bench check`: baselines record their selection and intervals; --tolerance auto."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.test_bootstrap import _run_folder

ROOT = Path(__file__).resolve().parents[1]


def _check(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "bench.cli", "check", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_auto_tolerance_and_selection(tmp_path):
    run = _run_folder(tmp_path / "r", seeds=(0, 1, 2))
    base = tmp_path / "base.csv"
    assert _check("--run", str(run), "--baseline", str(base), "--write-baseline").returncode == 0
    frame = pd.read_csv(base)
    assert {"lo", "hi", "dataset", "profile", "size", "n_test", "data_fingerprint"} <= set(frame)
    assert (frame["lo"] <= frame["value"] + 1e-12).all() and (frame["value"] <= frame["hi"] + 1e-12).all()
    assert (frame["profile"] == "smoke").all()
    assert _check("--run", str(run), "--baseline", str(base), "--tolerance", "auto").returncode == 0

    # the baseline's value raised inside its interval: auto passes, tolerance 0 fails
    row = (frame["variant"] == "HR") & (frame["cls"] == "JO")
    inside = frame.copy()
    inside.loc[row, "value"] = (inside.loc[row, "value"] + inside.loc[row, "hi"]) / 2
    inside.to_csv(base, index=False)
    assert _check("--run", str(run), "--baseline", str(base), "--tolerance", "auto").returncode == 0
    assert _check("--run", str(run), "--baseline", str(base)).returncode == 1
    # raised with its whole interval above the run's value: a regression under auto
    above = frame.copy()
    width = above.loc[row, "hi"] - above.loc[row, "lo"]
    for c in ("value", "lo", "hi"):
        above.loc[row, c] = above.loc[row, c] + width + 0.01
    above.to_csv(base, index=False)
    out = _check("--run", str(run), "--baseline", str(base), "--tolerance", "auto")
    assert out.returncode == 1 and "regression: segmentation/fcn/HR/JO/iou" in out.stdout

    other = frame.assign(profile="quick")
    other.to_csv(base, index=False)
    out = _check("--run", str(run), "--baseline", str(base), "--tolerance", "auto")
    assert out.returncode == 2 and "profile quick vs smoke" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1

    old = frame[["task", "model", "variant", "cls", "metric", "value"]]
    old.to_csv(base, index=False)
    out = _check("--run", str(run), "--baseline", str(base))
    assert out.returncode == 2 and "records no selection" in out.stderr and "--write-baseline" in out.stderr
    bad = _check("--run", str(run), "--baseline", str(base), "--tolerance", "loose")
    assert bad.returncode == 2 and "--tolerance 'loose'" in bad.stderr
