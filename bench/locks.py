"""Per-key inter-process locks (the `filelock` package: `flock` on POSIX, which the kernel
drops when the holder dies, so a kill -9 never leaves a lock behind).

Use: `with key_lock(path, what):` around "check the cache -> compute -> publish". The second
process waits for the first, then finds the entry published and does not compute it again.
Lock files stay on disk (empty); deleting one while nobody holds it is harmless.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

WAIT_NOTE_S = 2.0  # say that we are waiting when the lock is not free within this time


@contextlib.contextmanager
def key_lock(path: Path | str, what: str) -> Iterator[None]:
    from filelock import FileLock, Timeout

    from bench.console import log

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=WAIT_NOTE_S)
    except Timeout:
        log(f"waiting for another process that is computing {what} (lock {path})")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
