"""`bench --help` and `bench ls ...` stay fast: they must never import torch or torchvision.

Each command runs in a fresh interpreter (this test process has long since imported torch),
calling `bench.cli.main` exactly like the `bench` script does.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision")

_PROBE = """
import contextlib, io, json, sys
from bench.cli import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": buf.getvalue(),
                  "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def _probe(*args: str) -> dict:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"probe crashed: {proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [("--help",), ("ls", "tasks"), ("ls", "backends"),
                                  ("ls", "datasets"), ("ls", "metrics")],
                         ids=lambda a: " ".join(a))
def test_cheap_commands_do_not_import_torch(args):
    result = _probe(*args)
    assert result["code"] == 0, result["out"]
    assert result["out"].strip(), "the command printed nothing"
    assert result["heavy"] == [], f"`bench {' '.join(args)}` imported {result['heavy']}"


def test_config_loading_does_not_import_torch():
    code = ("import sys; from bench.config import BenchConfig; BenchConfig(); "
            "print([m for m in %r if m in sys.modules])" % (HEAVY,))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_degrade_still_re_exports_the_config():
    from bench.degrade import DegradationConfig as old
    from bench.degrade_config import DegradationConfig as new

    assert old is new
