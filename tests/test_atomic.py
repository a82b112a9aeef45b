"""bench.atomic: published files honour the umask; stale temporaries of dead writers are
removed, a live writer's are not; an incomplete published folder is replaced."""
from __future__ import annotations

import os
import stat
import time

import pytest

from bench import atomic


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_and_folders_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        folder = atomic.publish_dir(tmp_path / "d", lambda p: (p / "f").write_text("y"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == mode
    assert stat.S_IMODE(folder.stat().st_mode) == mode | 0o111 & ~umask


def test_stale_temps_removed_live_ones_kept(tmp_path):
    dead_file = tmp_path / "sub" / ".tmp-dead.npy"
    dead_dir = tmp_path / ".tmp-model-dead"
    dead_file.parent.mkdir()
    dead_file.write_bytes(b"half")
    dead_dir.mkdir()
    (dead_dir / "model.safetensors").write_bytes(b"half")
    old = time.time() - 60
    for p in (dead_file, dead_dir):
        os.utime(p, (old, old))
    kept = tmp_path / "result.csv"
    kept.write_text("a\n")
    with atomic.atomic_path(tmp_path / "live.csv") as live:
        live.write_text("being written")
        os.utime(live, (old, old))  # old, but its writer is alive and holds the lock
        assert atomic.remove_stale_temps(tmp_path) == 2
        assert live.exists()
    assert not dead_file.exists() and not dead_dir.exists()
    assert kept.read_text() == "a\n" and (tmp_path / "live.csv").read_text() == "being written"
    assert not list(tmp_path.rglob(".tmp-*"))


def test_incomplete_published_folder_is_replaced(tmp_path):
    final = tmp_path / "task" / "key"
    final.mkdir(parents=True)
    (final / "model.safetensors").write_bytes(b"w")  # a kill between the two writes, by hand

    def complete(p):
        return (p / "model.json").is_file()

    def write(p):
        (p / "model.safetensors").write_bytes(b"new")
        (p / "model.json").write_text("{}")

    atomic.publish_dir(final, write, complete)
    assert (final / "model.json").is_file() and (final / "model.safetensors").read_bytes() == b"new"
    atomic.publish_dir(final, lambda p: (p / "model.json").write_text("other"), complete)
    assert (final / "model.json").read_text() == "{}"  # a complete entry is kept
    assert not list(tmp_path.rglob(".tmp-*"))


def test_temp_of_a_dead_writer_on_this_host_is_removed_at_once(tmp_path):
    """No grace period for a writer known to be dead (kill -9 then an immediate rerun)."""
    import subprocess
    import sys

    from bench import atomic

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)  # reaped: no process has this pid now (barring reuse)
    host = atomic._host_id()
    orphan = tmp_path / f".tmp-{host}.{dead_pid}-abc.md"
    mine = tmp_path / f".tmp-{host}.{os.getpid()}-def.md"
    other_host = tmp_path / f".tmp-00000000.{dead_pid}-ghi.md"
    for f in (orphan, mine, other_host):
        f.write_text("partial")
    assert atomic.remove_stale_temps(tmp_path) == 1
    assert not orphan.exists() and mine.exists() and other_host.exists()  # young: grace applies
