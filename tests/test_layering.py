"""The layout is the map: imports run downward, and never in a circle.

Three layers, each named here module by module:
- CORE: the part of `bench` plug-ins (sr_backends, tasks) may use; it imports only CORE.
- plug-ins: `sr_backends`, `tasks`; they import only CORE of the harness.
- the harness above: every other `bench` module. Of those, only the BOUNDARY modules, each
  named with its reason, import plug-ins: that is where names are resolved to objects
  (ResolvedTask, ResolvedBackend, the metric catalogue) and where the harness drives models
  (training, cost, export). Below the boundary only objects flow.
The import graph is read from the AST of every module, lazy (function-level) imports
included, and must have no cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "sr_backends", "tasks")
PLUGINS = ("sr_backends", "tasks")

# The core, by name (no wildcard: a new module joins the core only by being listed here).
CORE = {
    "bench",                          # package marker
    "bench.errors",                   # error classes (exit codes)
    "bench.registry",                 # lazy registries, did-you-mean
    "bench.atomic",                   # atomic writes
    "bench.faults",                   # test-only fault injection, one switch
    "bench.paths",                    # where configs and the cache live
    "bench.degrade",                  # HR -> LR operators
    "bench.degrade_config",           # their typed settings
    "bench.datasets.base",            # Sample / Target types
    "bench.datasets.imageio",         # image / label file helpers
    "bench.datasets.yolo_format",     # YOLO label files
    "bench.metrics",                  # the harness's metric definitions (MetricInfo)
    "bench.metrics.image_quality",    # PSNR / SSIM
    "bench.metrics.counting",         # MACs / params counters (torch only)
    "bench.metrics.flops_paper",      # the paper's FLOPs convention
}

# Harness modules that may import plug-ins, each for a reason.
BOUNDARY = {
    "bench.resolved_task": "resolves the task name into a ResolvedTask",
    "bench.catalogue": "assembles the metric catalogue from the task specs",
    "bench.backends": "resolves backend names into ResolvedBackends (and their weights)",
    "bench.cost": "counts a backend's cost (builds its model)",
    "bench.perf_inputs": "what `bench perf backend` builds in its timing subprocesses",
    "bench.export": "exports a backend and checks the file with ONNX Runtime",
    "bench.training.trainer": "trains a backend spec's model",
    "bench.training.checkpoint": "saves / resumes a backend's weights",
    "bench.training.distill": "distils a teacher backend into a student",
    "bench.training.harness": "writes trained weights into the cache",
    "bench.commands.data": "`bench ls` lists the registries",
    "bench.commands.perf": "`bench perf matching` times DSRNet's matching stage (its subject)",
    "bench.commands.sr": "`bench distill` finds the distilled backends of a student",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES if (root / pkg).is_dir()
            for p in sorted((root / pkg).rglob("*.py"))}


def _owner(name: str, modules) -> str | None:
    """The module of ours that importing `name` runs (the longest prefix we have)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, source: str, modules) -> set[str]:
    """Our modules that `source` (module `name`) imports, anywhere in its AST (top level,
    inside functions, under TYPE_CHECKING): `from a import b` counts as a.b when that is a
    module, else as a; relative imports are resolved."""
    out: set[str] = set()
    is_package = name in modules and Path(str(modules[name])).name == "__init__.py"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {o for a in node.names if (o := _owner(a.name, modules))}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for a in node.names:
                full = f"{module}.{a.name}"
                target = full if full in modules else _owner(module, modules)
                if target:
                    out.add(target)
    out.discard(name)
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = our_modules(root)
    return {n: imports_of(n, p.read_text(), modules) for n, p in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import), each
    sorted; iterative Tarjan, so deep graphs do not hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1 or v in graph.get(v, ()):
                    cycles.append(sorted(component))
    return cycles


def _is_plugin(name: str) -> bool:
    return name.split(".")[0] in PLUGINS


GRAPH = import_graph()


def test_core_modules_exist_and_import_only_the_core():
    missing = sorted(CORE - GRAPH.keys())
    assert not missing, f"CORE names modules that do not exist: {missing}"
    bad = [f"{m} imports {i}" for m in sorted(CORE) for i in sorted(GRAPH[m])
           if i not in CORE]
    assert not bad, "\n".join(bad)


def test_metrics_package_is_pure_core():
    """bench/metrics holds definitions and counters only: every module in it is core."""
    metrics = {m for m in GRAPH if m == "bench.metrics" or m.startswith("bench.metrics.")}
    assert metrics - CORE == set(), f"not core: {sorted(metrics - CORE)}"


def test_plugins_import_only_the_core_of_bench():
    bad = [f"{m} imports {i}" for m in sorted(GRAPH) if _is_plugin(m)
           for i in sorted(GRAPH[m]) if i.split(".")[0] == "bench" and i not in CORE]
    assert not bad, "\n".join(bad)


def test_only_boundary_modules_import_plugins():
    assert set(BOUNDARY) <= GRAPH.keys(), sorted(set(BOUNDARY) - GRAPH.keys())
    bad = [f"{m} imports {i}" for m in sorted(GRAPH)
           if m.split(".")[0] == "bench" and m not in BOUNDARY
           for i in sorted(GRAPH[m]) if _is_plugin(i)]
    assert not bad, "\n".join(bad) + "\n(resolve names at the boundary: bench/resolved_task.py, " \
                                     "bench/backends.py, bench/catalogue.py)"


def test_no_import_cycles():
    cycles = find_cycles(GRAPH)
    assert not cycles, "import cycles (lazy imports included):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_cycle_detector_catches_cycles_in_a_fake_tree(tmp_path):
    """The detector itself: a fake package tree with a lazy (function-level) import circle
    a -> b -> c -> a, a circle through relative imports d <-> f, and an acyclic part."""
    pkg = tmp_path / "bench"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from bench import b\n",
        "b.py": "def f():\n    import bench.sub.c\n",
        "sub/__init__.py": "",
        "sub/c.py": "def g():\n    from bench.a import thing\n",
        "d.py": "from . import f\n",                   # relative: bench.f
        "f.py": "def h():\n    from .d import y\n",     # relative, lazy: bench.d
        "e.py": "from bench.a import x\nimport json\n",  # downward only
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    graph = import_graph(tmp_path)
    assert graph["bench.b"] == {"bench.sub.c"} and graph["bench.e"] == {"bench.a"}
    assert find_cycles(graph) == [["bench.a", "bench.b", "bench.sub.c"], ["bench.d", "bench.f"]]
    assert find_cycles({"x": {"y"}, "y": set()}) == []


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
