"""OMP_WAIT_POLICY: the CLI defaults it to PASSIVE (bench/wait_policy.py) because it changes
only how idle threads wait. This checks that claim where it matters: a training step's
gradients are bit-identical under both policies (fresh processes, 2 threads)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.wait_policy import passive_waiting

STEP = """
import hashlib, torch
torch.set_num_threads(2)
from sr_backends import BACKENDS
spec = BACKENDS.get("edsr")
torch.manual_seed(0)
m = spec.build(**{**spec.hparams, **spec.tiny})
lr = torch.rand(4, 3, 24, 24)
(m(lr) - torch.rand(4, 3, 96, 96)).abs().mean().backward()
h = hashlib.sha256()
for p in (p for p in m.parameters() if p.grad is not None):
    h.update(p.grad.numpy().tobytes())
print(h.hexdigest())
"""


def _digest(policy: str) -> str:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    out = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True, text=True,
                         check=True, timeout=300)
    return out.stdout.strip()


@pytest.mark.slow
def test_passive_and_active_waiting_compute_the_same_bits():
    assert _digest("PASSIVE") == _digest("ACTIVE")


def test_the_cli_default_respects_the_users_choice(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert passive_waiting() == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert passive_waiting() == "PASSIVE" and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
