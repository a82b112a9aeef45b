"""How OpenMP threads wait: the CLI chooses a brief spin on an idle CPU and PASSIVE on a busy
one (bench/wait_policy.py) because it changes only how idle threads wait. This checks that
claim where it matters: a training step's gradients are bit-identical under every setting
(fresh processes, 2 threads), and the choice follows the CPU and respects the user's."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.wait_policy import BRIEF_SPIN, choose_waiting, cpu_busy_fraction

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


def _digest(variable: str, value: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env[variable] = value
    out = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True, text=True,
                         check=True, timeout=300)
    return out.stdout.strip()


@pytest.mark.slow
def test_every_wait_setting_computes_the_same_bits():
    passive = _digest("OMP_WAIT_POLICY", "PASSIVE")
    assert passive == _digest("OMP_WAIT_POLICY", "ACTIVE") == _digest("GOMP_SPINCOUNT", BRIEF_SPIN)


def test_idle_cpu_spins_briefly_busy_cpu_sleeps(monkeypatch):
    for var in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(var, raising=False)
    assert choose_waiting(busy=0.05) == f"spin:{BRIEF_SPIN}"
    assert os.environ["GOMP_SPINCOUNT"] == BRIEF_SPIN and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delenv("GOMP_SPINCOUNT")
    assert choose_waiting(busy=0.9) == "PASSIVE" and "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.delenv("OMP_WAIT_POLICY")
    import torch  # noqa: F401  (an in-process caller: the runtime has started, too late to spin)
    assert choose_waiting(busy=None) == "PASSIVE"


def test_the_cli_default_respects_the_users_choice(monkeypatch):
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert choose_waiting(busy=0.0) == "ACTIVE" and "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("GOMP_SPINCOUNT", "50")
    assert choose_waiting(busy=0.0) == "spin:50" and "OMP_WAIT_POLICY" not in os.environ


def test_busy_fraction_reads_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    assert cpu_busy_fraction(0.0, stat) is None  # no time passed between the samples
    assert cpu_busy_fraction(0.0, tmp_path / "absent") is None
    if os.path.exists("/proc/stat"):
        assert 0.0 <= cpu_busy_fraction(0.05) <= 1.0
