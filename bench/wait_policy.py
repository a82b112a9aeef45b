"""How idle OpenMP threads wait: briefly spin on an idle CPU, sleep on a shared one.

PyTorch's CPU kernels run on an OpenMP pool (GNU libgomp in the pip wheels) whose idle threads
busy-wait (spin, 300000 times by default) before they sleep. When another process shares the
cores (a second run, a test suite, two cells of a study), each spinning thread steals a core
from the thread it waits for, and every operator then costs a scheduler time slice (a profile
showed ~30 ms per convolution whatever its size). Measured on the 2-core development machine
while another 2-thread training ran: one training step of DSRNet at the quick size took 13.5 s
with the default and 3.7 s with `OMP_WAIT_POLICY=PASSIVE` (never spin).

On an idle CPU, though, never spinning costs up to 1.45x per training step (EDSR,
results/wait-policy.json) and 2.4x on ATD-light's whole training (135 s vs 57 s), and a short
spin buys that back: `benchmarks/wait_policy.py` measured, on a quiet 2-core machine,
GOMP_SPINCOUNT=3000 as fast as ACTIVE, while with a 2-thread training beside it the same spin
is 1.4x slower than PASSIVE (results/wait-policy-contended.json). So the CLI looks at the
CPU once, when it starts (`cpu_busy_fraction`, 0.1 s of /proc/stat): idle -> spin 3000 times,
busy -> PASSIVE. The wait changes only how idle threads wait, never what is computed: results
are bit-identical (tests/test_wait_policy.py).

It must be set before the OpenMP runtime starts (before torch is imported), so only the CLI
entry point sets it, and only when the user has set neither variable:
`OMP_WAIT_POLICY=PASSIVE|ACTIVE` or `GOMP_SPINCOUNT=N` are kept as given.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

BRIEF_SPIN = "3000"   # libgomp spins before sleeping; enough to cover a kernel's barrier waits
IDLE_BELOW = 0.25     # busy share of all CPUs under which the machine counts as idle


def cpu_busy_fraction(window_s: float = 0.1, stat: Path = Path("/proc/stat")) -> float | None:
    """Share of all CPUs' time spent busy over `window_s` (None where /proc/stat is absent)."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in stat.read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle  # guest time is already counted in user/nice
    try:
        total0, idle0 = sample()
        time.sleep(window_s)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return None if total <= 0 else 1.0 - (idle1 - idle0) / total


def choose_waiting(busy: float | None = None) -> str:
    """Set the wait for this process and its children unless the user did; returns the
    setting in force ("PASSIVE", "ACTIVE" or "spin:N")."""
    if "OMP_WAIT_POLICY" in os.environ:
        return os.environ["OMP_WAIT_POLICY"]
    if "GOMP_SPINCOUNT" in os.environ:
        return f"spin:{os.environ['GOMP_SPINCOUNT']}"
    if busy is None and "torch" in sys.modules:  # in-process caller: the runtime has started;
        busy = 1.0                                # the setting only reaches child processes
    busy = cpu_busy_fraction() if busy is None else busy
    if busy is not None and busy < IDLE_BELOW:
        os.environ["GOMP_SPINCOUNT"] = BRIEF_SPIN
        return f"spin:{BRIEF_SPIN}"
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"
