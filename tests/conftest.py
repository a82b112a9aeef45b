"""Test-wide setup: every cache and run folder lives in a temporary directory, no network."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-cache")
    old = os.environ.get("SEWER_BENCH_CACHE")
    os.environ["SEWER_BENCH_CACHE"] = str(root)
    yield root
    if old is None:
        os.environ.pop("SEWER_BENCH_CACHE", None)
    else:
        os.environ["SEWER_BENCH_CACHE"] = old


@pytest.fixture
def bench_cli(capsys):
    """Run `bench ...` in-process; returns (exit code, stdout, stderr)."""
    from bench.cli import main

    def run(*args: str):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def bench_json(bench_cli):
    """Run `bench ... --json` and parse stdout; fails the test on a non-zero exit."""

    def run(*args: str):
        code, out, err = bench_cli(*args, "--json")
        assert code == 0, f"bench {' '.join(args)} exited {code}: {err}"
        return json.loads(out)

    return run


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one thread is faster, and immune to OpenMP spin-waits when the CI's
    cores are shared (2 threads on a loaded 2-core box made these tests 30x slower)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def toy_reference_net():
    """A minimal reference-based SR module class: forward(lr, ref) -> SR at Ref size."""
    import torch
    from torch import nn

    class Fusion(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(6, 3, 3, padding=1)

        def forward(self, lr, ref):
            up = nn.functional.interpolate(lr, size=ref.shape[-2:], mode="bilinear")
            return up + self.conv(torch.cat([up, ref], 1))

    return Fusion


@pytest.fixture
def edit_csv():
    """Set one cell of a comma-separated file: (path, 1-based line, column name, new value)."""

    def edit(path: Path, line: int, column: str, value: str) -> None:
        rows = path.read_text().splitlines()
        header = rows[0].split(",")
        fields = rows[line - 1].split(",")
        fields[header.index(column)] = value
        rows[line - 1] = ",".join(fields)
        path.write_text("\n".join(rows) + "\n")

    return edit


def tree(*roots: Path) -> dict[str, str]:
    """Every path under `roots` -> a hash of its bytes ("dir" / "link" for the others), so
    two snapshots are equal only when nothing was changed, added or removed."""
    out: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_symlink():
                out[str(p)] = "link"
            elif p.is_dir():
                out[str(p)] = "dir"
            else:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def benchmark_script(name: str):
    """benchmarks/<name>.py imported as a module (the folder is not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
