"""The layout is the map: models and task plug-ins never import the harness above them."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The core of `bench` that plug-ins may use: errors, registry, atomic writes, image/degradation
# helpers, the dataset types and image/label file helpers, the metric catalogue, the
# torch-only counters and where things live (configs, the cache root).
CORE = {"bench", "bench.errors", "bench.registry", "bench.atomic", "bench.degrade",
        "bench.degrade_config", "bench.datasets.base", "bench.datasets.imageio",
        "bench.datasets.yolo_format", "bench.paths", "bench.metrics",
        "bench.metrics.image_quality", "bench.metrics.counting", "bench.metrics.flops_paper"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names
                      if f"{node.module}.{a.name}".replace(".", "/") in _modules()}
    return names


def _modules() -> set[str]:
    return {str(p.relative_to(ROOT).with_suffix("")) for p in ROOT.glob("bench/**/*.py")}


def test_plugins_import_only_the_core_of_bench():
    bad = []
    for pkg in ("sr_backends", "tasks"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for name in _imports(path):
                if name.split(".")[0] == "bench" and name not in CORE and \
                        not any(name.startswith(c + ".") and c != "bench" for c in CORE):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_models_folder_holds_no_harness_code():
    assert not (ROOT / "sr_backends" / "training").exists()
    assert not (ROOT / "sr_backends" / "dsrnet" / "perf.py").exists()


def test_no_backend_is_named_outside_its_module():
    """Adding a backend is one module + one registry line: the harness never names one."""
    hits = []
    for path in sorted((ROOT / "bench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    node.value in ("external", "dsrnet", "edsr", "rcan", "atd"):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not hits, "\n".join(hits)
