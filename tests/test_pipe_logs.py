"""Logs a machine can read: in a pipe (stdout and stderr not a terminal) no text line is
wrapped, so a 300-character run path, `regenerate: bench table --run <path>` and the
`regression:` lines CI greps stay whole; `bench ls` shows whole names; rich tables keep their
80-column layout."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=timeout)


def _table_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln[:1] in "┏┃┡│└"]


def test_ls_in_a_pipe_shows_whole_names():
    res = bench("ls", "tasks")
    assert res.returncode == 0, res.stderr
    for name in ("classification", "detection", "segmentation", "inception_v3", "two-stage",
                 "synthsewer-cls", "synthsewer-pipe"):
        assert name in res.stdout, (name, res.stdout)
    assert "…" not in res.stdout
    assert all(len(ln) <= 80 for ln in _table_lines(res.stdout))


@pytest.mark.slow
def test_deep_run_path_and_regressions_stay_on_one_line(tmp_path):
    deep = tmp_path
    while len(str(deep)) < 300:
        deep = deep / "a-rather-long-folder-name"
    res = bench("run", "--profile", "smoke", "--model", "fcn", "--out", str(deep))
    assert res.returncode == 0, res.stderr
    (run_dir,) = [p for p in deep.iterdir() if (p / "manifest.json").exists()]
    assert len(str(run_dir)) > 300
    both = res.stdout + res.stderr
    assert f"regenerate: bench table --run {run_dir}\n" in res.stdout, res.stdout
    for line in both.splitlines():  # the path is never split over two lines
        if str(tmp_path) in line:
            assert str(deep) in line, line
    assert all(len(ln) <= 80 for ln in _table_lines(res.stdout))

    base = tmp_path / "baseline.csv"
    assert bench("check", "--run", str(run_dir), "--baseline", str(base),
                 "--write-baseline").returncode == 0
    rows = base.read_text().splitlines()
    header = rows[0].split(",")
    at = header.index("value")
    fields = rows[1].split(",")
    fields[at] = str(float(fields[at]) + 0.5)  # the run is now worse than this baseline
    rows[1] = ",".join(fields)
    base.write_text("\n".join(rows) + "\n")
    res = bench("check", "--run", str(run_dir), "--baseline", str(base), "--tolerance", "1")
    assert res.returncode == 1, res.stdout + res.stderr
    found = [ln for ln in res.stdout.splitlines() if ln.startswith("regression: ")]
    assert len(found) == 1 and "(Δ " in found[0] and found[0].endswith(")"), res.stdout
