"""Test-only fault injection: the one switch production code calls, `fault(point, ...)`.

Off unless a SEWER_BENCH_* variable below is set (the kill -9 / resume tests set them in a
child process); then a point can log or SIGKILL its own process, like a machine dying there.

Points (and where production code calls them):
- "write" (bench/atomic.py, a temp file complete, its final name untouched):
  SEWER_BENCH_COUNT_WRITES=FILE appends one line per atomic write (to choose N);
  SEWER_BENCH_KILL_AT_WRITE=N kills the process at its N-th atomic write.
- "group" (bench/execute.py, a group starting): SEWER_BENCH_KILL_GROUP_ONCE=FILE: the first
  group to start creates FILE and kills its process (a worker dying mid-group).
- "cells" (bench/executors.py, after rows are stored): SEWER_BENCH_KILL_AFTER_CELLS=N kills
  the run once N cells are computed (deterministic instead of racing a timer).
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

_writes = 0


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def fault(point: str, *, path: Path | None = None, count: int = 0) -> None:
    """Injection point `point` ("write" with the temp `path`, "group", "cells" with the
    `count` of cells computed so far); a no-op unless its variable is set."""
    global _writes
    env = os.environ
    if point == "write":
        _writes += 1
        log = env.get("SEWER_BENCH_COUNT_WRITES")
        if log and path is not None:
            with open(log, "a") as f:
                f.write(f"{_writes} {path.parent.name}/{path.name}\n")
        limit = env.get("SEWER_BENCH_KILL_AT_WRITE")
        if limit and _writes >= int(limit):
            _die()
    elif point == "group":
        marker = env.get("SEWER_BENCH_KILL_GROUP_ONCE")
        if marker and not os.path.exists(marker):
            Path(marker).write_text(str(os.getpid()))
            _die()
    elif point == "cells":
        limit = env.get("SEWER_BENCH_KILL_AFTER_CELLS")
        if limit and count >= int(limit):
            _die()
    else:
        raise ValueError(f"unknown fault point {point!r}")
