"""Never stale, never half-written: results follow the data's content, and a run killed with
-9 at any atomic write resumes to the uninterrupted run's files, byte for byte, leaving no
temporary file behind. Real `bench` processes, smoke profile, tiny splits."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

TINY = ["--profile", "smoke", "--model", "fcn", "--set", "data.n_train=4", "--set",
        "data.n_test=2"]
WRITES_IN_A_COLD_RUN = 23  # SEWER_BENCH_COUNT_WRITES on the command below, fresh cache


def _bench(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "SEWER_BENCH_CACHE": str(cache), **env})


def _files(run_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(run_dir).as_posix(): p.read_bytes()
            for folder in ("rows", "tables") for p in sorted((run_dir / folder).glob("*"))}


def _run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if (p / "manifest.json").exists()]
    return run_dir


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    base = tmp_path_factory.mktemp("uninterrupted")
    log = base / "writes.txt"
    done = _bench(["run", *TINY, "--out", str(base / "out"), "--json"], base / "cache",
                  SEWER_BENCH_COUNT_WRITES=str(log))
    assert done.returncode == 0, done.stderr
    writes = len(log.read_text().splitlines())
    return _files(_run_dir(base / "out")), writes


KILL_POINTS = sorted(random.Random(12).sample(range(1, WRITES_IN_A_COLD_RUN + 1), 3))


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_kill_9_at_a_write_then_rerun_equals_the_uninterrupted_run(kill_at, uninterrupted,
                                                                    tmp_path):
    expected, writes = uninterrupted
    assert writes == WRITES_IN_A_COLD_RUN  # the seeded kill points cover the whole run
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["run", *TINY, "--out", str(out), "--json"]
    killed = _bench(args, cache, SEWER_BENCH_KILL_AT_WRITE=str(kill_at))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list(tmp_path.rglob(".tmp-*")), "the kill happens with a temporary written"
    resumed = _bench(args, cache)
    assert resumed.returncode == 0, resumed.stderr
    assert _files(_run_dir(out)) == expected
    assert not list(tmp_path.rglob(".tmp-*"))


def test_edited_mask_recomputes_and_unchanged_data_recomputes_nothing(tmp_path):
    data, cache, out = tmp_path / "pipe", tmp_path / "cache", tmp_path / "out"
    made = _bench(["synth", "--view", "pipe", "--out", str(data), "--n-train", "3",
                   "--n-val", "1", "--n-test", "2"], cache)
    assert made.returncode == 0, made.stderr
    args = ["run", "--profile", "smoke", "--model", "fcn", "--dataset", "pipe",
            "--data-root", str(data), "--out", str(out), "--json"]

    def run() -> dict:
        done = _bench(args, cache)
        assert done.returncode == 0, done.stderr
        return {**json.loads(done.stdout), "stderr": done.stderr}

    first = run()
    again = run()
    assert again["summary"]["cells_computed"] == 0
    assert again["tables"] == first["tables"]

    mask_path = sorted((data / "masks" / "test").glob("*.png"))[0]
    old = np.asarray(Image.open(mask_path))
    mask = old.copy()
    mask[:32, :32] = 1  # still a valid mask: a corner becomes the first class
    assert (mask != old).any()
    Image.fromarray(mask).save(mask_path)
    edited = run()
    assert edited["summary"]["cells_computed"] == edited["summary"]["cells_total"] == 3
    assert "same config but other inputs" in edited["stderr"]
    assert edited["run"] != first["run"]
    assert edited["tables"] != first["tables"]  # the IoU rows follow the new mask
    assert run()["summary"]["cells_computed"] == 0


def test_ctrl_c_exits_130_with_one_line_saying_what_is_saved_and_how_to_resume(tmp_path):
    args = ["run", *TINY, "--out", str(tmp_path / "out")]
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / "cache")})
    seen = []
    for line in proc.stderr:  # interrupt once the work has started
        seen.append(line)
        if "cells to compute" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=600)
    assert proc.returncode == 130, "".join(seen) + rest
    lines = [ln for ln in rest.splitlines() if ln.strip() and not ln.startswith("  ")]
    assert len(lines) == 1 and lines[0].startswith("interrupted: 0/3 cells of run"), rest
    assert "resume with: bench run --profile smoke --model fcn" in lines[0]
    assert "Traceback" not in rest
