"""bench/faults.py: the one test-only fault switch; each point does what its variable says."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from bench.faults import fault


def _child(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env})


def test_off_without_variables(monkeypatch):
    for var in ("SEWER_BENCH_KILL_AT_WRITE", "SEWER_BENCH_KILL_GROUP_ONCE",
                "SEWER_BENCH_KILL_AFTER_CELLS", "SEWER_BENCH_COUNT_WRITES"):
        monkeypatch.delenv(var, raising=False)
    fault("group")
    fault("cells", count=10 ** 6)
    with pytest.raises(ValueError):
        fault("nowhere")


def test_kill_at_write_fires_after_the_temp_and_before_the_rename(tmp_path):
    code = ("from bench.atomic import atomic_path\n"
            "for i in range(3):\n"
            "    with atomic_path(f'f{i}.txt') as p: p.write_text(str(i))\n")
    log = tmp_path / "writes.log"
    r = _child(code, tmp_path, SEWER_BENCH_KILL_AT_WRITE="2", SEWER_BENCH_COUNT_WRITES=str(log))
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert (tmp_path / "f0.txt").read_text() == "0" and not (tmp_path / "f1.txt").exists()
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["1", "2"]


def test_group_kills_once_and_cells_kills_at_the_count(tmp_path):
    marker = tmp_path / "marker"
    code = "from bench.faults import fault; fault('group'); print('alive')"
    first = _child(code, tmp_path, SEWER_BENCH_KILL_GROUP_ONCE=str(marker))
    again = _child(code, tmp_path, SEWER_BENCH_KILL_GROUP_ONCE=str(marker))
    assert first.returncode == -signal.SIGKILL and marker.exists()
    assert again.returncode == 0 and "alive" in again.stdout
    code = "from bench.faults import fault; fault('cells', count=1); fault('cells', count=2)"
    assert _child(code, tmp_path, SEWER_BENCH_KILL_AFTER_CELLS="2").returncode == -signal.SIGKILL
    assert _child(code, tmp_path, SEWER_BENCH_KILL_AFTER_CELLS="3").returncode == 0
