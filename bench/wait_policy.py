"""Let idle OpenMP threads sleep instead of spin: the speed of many-small-op models on a
shared CPU.

PyTorch's CPU kernels run on an OpenMP pool whose idle threads busy-wait (spin) by default.
When another process shares the cores (a second run, a test suite, two cells of a study),
each spinning thread steals a core from the thread it waits for, and every operator then
costs a scheduler time slice (a profile showed ~30 ms per convolution whatever its size).
Measured on the 2-core development machine while another 2-thread training ran: one training
step of DSRNet at the quick size (forward, losses, backward; batch 4, LR 16x16, 2 threads)
took 13.5 s with the default policy and 3.7 s with `OMP_WAIT_POLICY=PASSIVE`. The wait policy
changes only how idle threads wait, never what is computed: results are bit-identical.

It must be set before the OpenMP runtime starts (before torch is imported), so only the CLI
entry point sets it, and only when the user has not: `OMP_WAIT_POLICY=ACTIVE bench ...` keeps
spinning (it can be a little faster on an otherwise idle machine).
"""
from __future__ import annotations

import os


def passive_waiting() -> str:
    """Default OMP_WAIT_POLICY to PASSIVE for this process and its children; returns the
    policy in force (for manifests and perf reports)."""
    return os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
