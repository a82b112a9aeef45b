"""Where things live: the shipped YAML configs (the checkout's `configs/`, else the wheel's
copy) and the cache root.

A source checkout (plain or editable install) reads `<repo>/configs/` so edits there take
effect at once. A wheel carries the same files as `bench/_configs/` (setup.py maps that
package to the top-level `configs/` folder at build time).
"""
from __future__ import annotations

import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
MARKER = "defaults.yaml"


def paper_dir() -> Path:
    """The paper's tables as data: `results/paper/` of a checkout, else `bench/_paper/` of a
    wheel (mapped by setup.py like the configs). Never raises: a missing folder is reported
    by the loader that reads it."""
    candidates = (_HERE.parent / "results" / "paper", _HERE / "_paper")
    return next((c for c in candidates if (c / "index.csv").is_file()), candidates[0])


def config_dir() -> Path:
    """The folder holding `defaults.yaml`, `profiles/` and `tasks/`: source checkout first,
    installed copy second; FileNotFoundError naming both places if neither has the files."""
    candidates = (_HERE.parent / "configs", _HERE / "_configs")
    for candidate in candidates:
        if (candidate / MARKER).is_file():
            return candidate
    tried = " or ".join(str(c / MARKER) for c in candidates)
    raise FileNotFoundError(f"bench cannot find its configs: no {tried}. Reinstall the package "
                            "(`pip install .`) or run from a source checkout.")


def cache_root(configured: Path | None = None) -> Path:
    """The cache root: `configured` (the config's cache_dir), else $SEWER_BENCH_CACHE, else
    ~/.cache/sewer-sr-bench. Every cache user (SR outputs, weights, task models, generated
    data, ultralytics' settings) asks here."""
    if configured is not None:
        return Path(configured).expanduser()
    env = os.environ.get("SEWER_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sewer-sr-bench"
