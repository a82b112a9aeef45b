"""Test-wide setup: every cache and run folder lives in a temporary directory, no network."""
from __future__ import annotations

import json
import os

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
