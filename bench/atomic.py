"""Atomic file writes: write to a temporary file in the same folder, then `os.replace`.

A reader (or a rerun after kill -9) therefore sees either the old file or the complete new
one, never a half-written file. Temporary names start with '.tmp-' so globs skip them, and are
unique (mkstemp / mkdtemp), so concurrent writers of the same path never share one.

- Permissions: mkstemp creates 0600 files and mkdtemp 0700 folders; published files get
  0666 & ~umask (folders 0777 & ~umask), like any file `open()` creates.
- Stale temporaries: a live writer holds an exclusive `flock` on its temporary (file or
  folder) until the rename, and names it '.tmp-<host id>.<pid>-...'. `remove_stale_temps(root)`
  deletes every '.tmp-*' under `root` whose writer is a dead process of this host (at once),
  or that no live process holds locked (a writer killed with -9 drops its lock with the
  process) and is older than STALE_GRACE_S (the instant between mkstemp and flock).
- Test hook (bench/faults.py, point "write"): SEWER_BENCH_KILL_AT_WRITE=N SIGKILLs the
  process at its N-th atomic write, after the temporary is complete and before the rename
  (the worst moment for a kill); SEWER_BENCH_COUNT_WRITES=FILE logs each write, to choose N.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from bench.faults import fault

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks, stale temps age out instead
    fcntl = None  # type: ignore[assignment]

TMP_PREFIX = ".tmp-"
_OWNER_RE = None  # compiled on first use: ".tmp-<host id>.<pid>-..."
STALE_GRACE_S = 2.0     # an unlocked temp younger than this may be a writer between mkstemp and flock
UNLOCKED_MAX_AGE_S = 24 * 3600.0  # without flock support: remove temps older than a day


def _umask() -> int:
    """The process umask, read without changing it (Linux), else via the set-and-restore."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _host_id() -> str:
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _prefix() -> str:
    """'.tmp-<host id>.<pid>-': lets a later run on the same host see at once that the writer
    of a temporary is dead (kill -9), without waiting for a grace period."""
    return f"{TMP_PREFIX}{_host_id()}.{os.getpid()}-"


def _owner_dead(name: str) -> bool:
    """True when `name` was written by a process of this host that no longer exists."""
    import re

    global _OWNER_RE
    if _OWNER_RE is None:
        _OWNER_RE = re.compile(re.escape(TMP_PREFIX) + r"([0-9a-f]{8})\.(\d+)-")
    m = _OWNER_RE.match(name)
    if not m or m.group(1) != _host_id():
        return False
    pid = int(m.group(2))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _lock(fd: int) -> None:
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _written(tmp: Path) -> None:
    """A write is complete (temp written, final name untouched): the fault-injection point."""
    fault("write", path=tmp)


@contextlib.contextmanager
def atomic_path(path: Path | str, suffix: str = "", fsync: bool = False) -> Iterator[Path]:
    """Yields a temporary path to write to; on success it is renamed over `path`.

    `suffix` keeps the extension for writers that insist on one (np.save, PIL, safetensors).
    `fsync=True` flushes the temp file's data to disk before the rename, so after a power loss
    `path` holds either the old or the new contents (not just after a killed process).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(), suffix=suffix or path.suffix, dir=path.parent)
    try:
        _lock(fd)  # held until the rename: remove_stale_temps leaves a live writer alone
        os.fchmod(fd, 0o666 & ~_umask())
        yield Path(tmp)
        if fsync:
            _fsync_file(tmp)
        _written(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)


def publish_dir(final: Path, write: Callable[[Path], object],
                complete: Callable[[Path], bool] = lambda p: p.is_dir()) -> Path:
    """Create the folder `final` as a whole: `write(tmp)` fills a uniquely named temporary
    sibling, which is then renamed into place. A reader never sees a partial folder. When
    `final` already exists and is `complete`, another writer won the race (same
    content-addressed result): the copy is discarded. An incomplete `final` (left by an older
    version, or by hand) is replaced."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_prefix()}{final.name}-", dir=final.parent))
    fd = os.open(tmp, os.O_RDONLY)
    try:
        _lock(fd)
        os.chmod(tmp, 0o777 & ~_umask())
        write(tmp)
        _written(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            if not complete(final):
                trash = Path(tempfile.mkdtemp(prefix=f"{_prefix()}{final.name}-old-",
                                              dir=final.parent))
                os.rename(final, trash / "x")
                os.rename(tmp, final)
                shutil.rmtree(trash, ignore_errors=True)
    finally:
        os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _is_stale(entry: Path, now: float) -> bool:
    try:
        age = now - entry.lstat().st_mtime
    except FileNotFoundError:
        return False
    if _owner_dead(entry.name):
        return True  # its writer (on this host) is gone: no grace needed
    if fcntl is None:
        return age > UNLOCKED_MAX_AGE_S
    if age < STALE_GRACE_S:
        return False
    try:
        fd = os.open(entry, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live writer holds it
    finally:
        os.close(fd)
    return True


def remove_stale_temps(root: Path | str) -> int:
    """Delete the '.tmp-*' files and folders under `root` that no live writer holds (see the
    module doc); returns how many were removed. Never follows symlinks."""
    root = Path(root)
    if not root.is_dir():
        return 0
    removed, now = 0, time.time()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [d for d in dirnames if d.startswith(TMP_PREFIX)]:
            dirnames.remove(name)  # never descend into a temp folder
            if _is_stale(Path(dirpath) / name, now):
                shutil.rmtree(Path(dirpath) / name, ignore_errors=True)
                removed += 1
        for name in filenames:
            if name.startswith(TMP_PREFIX) and _is_stale(Path(dirpath) / name, now):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(Path(dirpath) / name)
                    removed += 1
    return removed


def _fsync_file(path: str | Path) -> None:
    fd = os.open(path, os.O_RDWR)  # write access: Windows refuses fsync on read-only fds
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path | str, data: bytes, fsync: bool = False) -> None:
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path | str, text: str, fsync: bool = False) -> None:
    write_bytes(path, text.encode("utf-8"), fsync=fsync)
