"""Atomic file writes: write to a temporary file in the same folder, then `os.replace`.

A reader (or a rerun after kill -9) therefore sees either the old file or the complete new
one, never a half-written file. Temporary files start with '.tmp-' so globs skip them.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: Path | str, suffix: str = "", fsync: bool = False) -> Iterator[Path]:
    """Yields a temporary path to write to; on success it is renamed over `path`.

    `suffix` keeps the extension for writers that insist on one (np.save, PIL, safetensors).
    `fsync=True` flushes the temp file's data to disk before the rename, so after a power loss
    `path` holds either the old or the new contents (not just after a killed process).
    The temp name is unique (mkstemp), so concurrent writers of the same `path` never share it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
