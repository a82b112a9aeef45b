"""Where the shipped YAML configs live: the checkout's `configs/`, else the wheel's copy.

A source checkout (plain or editable install) reads `<repo>/configs/` so edits there take
effect at once. A wheel carries the same files as `bench/_configs/` (setup.py maps that
package to the top-level `configs/` folder at build time).
"""
from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
MARKER = "defaults.yaml"


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
