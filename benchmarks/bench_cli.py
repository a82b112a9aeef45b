"""Helpers shared by the benchmark scripts: `bench ... --json` as a subprocess (parsed stdout,
or exit with the command and the tail of its stderr), and a backend from a weights file."""
from __future__ import annotations

import json
import subprocess
import sys


def bench(*args: str) -> dict:
    cmd = [sys.executable, "-m", "bench.cli", *args, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def backend_from_weights(path: str):
    """A ready backend from a trained weights file: name and hyper-parameters from its sidecar
    (`bench train-sr` / `bench distill` write one). Returns (backend, hparam overrides)."""
    from sr_backends import BACKENDS
    from sr_backends.weights import read_meta

    meta = read_meta(path)
    name = meta["backend"]
    spec = BACKENDS.get(name)
    overrides = {k: v for k, v in meta["hparams"].items() if spec.hparams.get(k) != v}
    return spec.create(name, weights=path, hparams=overrides), overrides
