"""Backends declare capabilities; the harness asks them instead of comparing kind strings."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sr_backends import BACKENDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", BACKENDS.names())
def test_capabilities_are_consistent(name):
    spec = BACKENDS.get(name)
    assert spec.exportable <= spec.trainable  # only a torch model with weights exports
    assert not (spec.trainable and spec.needs_weights_file)
    assert spec.takes_weights == (spec.trainable or spec.needs_weights_file)
    assert spec.runtime_timed <= spec.needs_weights_file
    assert BACKENDS.description(name).strip(), f"{name}: no description in the registry line"
    assert not hasattr(spec, "description"), "descriptions live in the registry line only"


def test_depth_capability_follows_hparams():
    spec = BACKENDS.get("dsrnet-s")
    assert not spec.needs_depth() and spec.needs_depth({"depth_source": "gt"})
    assert not BACKENDS.get("edsr").needs_depth({"depth_source": "gt"})
    # the built model agrees with its spec
    with __import__("torch").device("meta"):
        model = spec.build(**{**spec.hparams, **spec.tiny, "depth_source": "gt"})
    assert model.needs_depth


def test_fixed_and_learned_capabilities():
    bicubic, edsr, external = (BACKENDS.get(n) for n in ("bicubic", "edsr", "external"))
    assert not bicubic.takes_weights and not bicubic.trainable and not bicubic.exportable
    assert edsr.trainable and edsr.exportable and not edsr.runtime_timed
    assert external.needs_weights_file and not external.trainable


def test_no_kind_comparison_outside_the_backends():
    out = subprocess.run(["grep", "-rn", "--include=*.py", "kind ==", "bench", "tasks"],
                         cwd=ROOT, capture_output=True, text=True).stdout
    # bench/report/check.py's Finding.kind ("regression" | "missing") is not a backend kind
    hits = [line for line in out.splitlines() if not line.startswith("bench/report/check.py")]
    assert not hits, "\n".join(hits)


def test_variant_labels_are_built_in_one_module():
    out = subprocess.run(["grep", "-rn", "--include=*.py", '"SR:', "bench", "tasks",
                          "sr_backends"], cwd=ROOT, capture_output=True, text=True).stdout
    files = {line.split(":", 1)[0] for line in out.splitlines()}
    assert files <= {"bench/variants.py"}, out


def test_resolution_looks_each_backend_up_once(monkeypatch):
    """`bench cost` / `perf backend` / `export` / `run` resolve through resolve_backends, which
    reads each spec once (an onnx:FILE spec reads its file to resolve)."""
    from collections import Counter

    from bench.backends import resolve_backends
    from bench.config import BenchConfig

    seen: Counter[str] = Counter()
    real = type(BACKENDS).get

    def counting(self, name):
        seen[name] += 1
        return real(self, name)

    monkeypatch.setattr(type(BACKENDS), "get", counting)
    cfg = BenchConfig()
    resolved = resolve_backends(["bicubic", "edsr", "dsrnet-d"], cfg, random_weights=True)
    assert [r.name for r in resolved] == ["bicubic", "edsr", "dsrnet-d"]
    assert resolved[2].teacher is not None and resolved[2].teacher.name == "dsrnet-plus"
    assert set(seen.values()) == {1}, seen
    assert all(r.weights_key is None for r in resolved)  # random weights: no data opened
