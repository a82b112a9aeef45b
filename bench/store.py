"""ResultStore: append-only tidy rows + a run manifest, loaded as a pandas DataFrame.

Layout of a run folder (`<out>/<run_id>/`):
    manifest.json        resolved config, git commit, package versions, device, seeds, command
    config.yaml          the resolved config, for humans and for `--config` reuse
    rows/<cell>.csv      the rows of one finished *cell* (one unit of work), written atomically
    rows/<cell>.state.npz  the cell's evaluation state (per-image sufficient statistics,
                         tasks.base.Evaluator.state), written atomically *before* the rows:
                         a cell is done when its rows exist, and then its state does too
    tables/              derived tables (Markdown, CSV, LaTeX) — regenerated from rows/ alone

One row per (run, dataset, task, model, variant, class, metric, seed). A cell (e.g. "evaluate
FCN seed 0 on SR:edsr") is appended as one file, all or nothing, so a run killed at any point
never holds half a cell, and a rerun skips exactly the cells that are already there.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from bench import atomic
from bench.errors import BenchError


@dataclass(frozen=True)
class Row:
    run: str
    dataset: str
    task: str          # "sr" for image quality, "segmentation", ...
    model: str         # task model ("fcn") or SR backend name for task "sr"
    variant: str       # a Variant's label (bench/variants.py)
    cls: str           # class name, "Mean", "background" or "all"
    metric: str        # "iou", "psnr_y", ...
    value: float
    seed: int = 0
    protocol: str = ""
    ref_policy: str = ""
    higher_is_better: bool = True


COLUMNS = [f.name for f in fields(Row)]
_PACKAGES = ("torch", "torchvision", "numpy", "segmentation-models-pytorch", "timm",
             "pandas", "scikit-image", "pydantic", "sewer-sr-bench")


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent, timeout=5)
        commit = out.stdout.strip() or "unknown"
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def cell_id(*parts: Any) -> str:
    """A readable, filesystem-safe id for a unit of work."""
    text = "|".join(str(p) for p in parts)
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class ResultStore:
    def __init__(self, run_dir: Path | str):
        self.run_dir = Path(run_dir)
        self.run_id = self.run_dir.name
        self.rows_dir = self.run_dir / "rows"

    # -- manifest -------------------------------------------------------------------------
    def write_manifest(self, config: dict[str, Any], *, device: str, command: str,
                       extra: dict[str, Any] | None = None) -> None:
        manifest = {
            "run": self.run_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": command,
            "git_commit": _git_commit(),
            "device": device,
            "seeds": config.get("seeds"),
            "packages": package_versions(),
            "platform": platform.platform(),
            "argv": sys.argv,
            "config": config,
            **(extra or {}),
        }
        import yaml

        with writable(self.run_dir):
            atomic.write_text(self.run_dir / "manifest.json",
                              json.dumps(manifest, indent=2, default=str))
            atomic.write_text(self.run_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))

    def manifest(self) -> dict[str, Any]:
        path = self.run_dir / "manifest.json"
        if not path.exists():
            raise BenchError(f"{self.run_dir}: not a run folder (no manifest.json)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BenchError(f"{path}: damaged manifest ({exc}); rerun the run's command "
                             "with --fresh") from None
        if not isinstance(data, dict):
            raise BenchError(f"{path}: damaged manifest (expected a JSON object)")
        return data

    # -- rows -----------------------------------------------------------------------------
    def _parts(self) -> list[Path]:
        # pathlib's glob matches dotfiles: skip '.tmp-*' left behind by a write killed mid-way
        if not self.rows_dir.is_dir():
            return []
        return sorted(p for p in self.rows_dir.glob("*.csv") if not p.name.startswith("."))

    def done_cells(self) -> set[str]:
        return {p.stem for p in self._parts()}

    def lock(self, name: str, what: str):
        """An inter-process lock private to this run folder (bench/locks.py)."""
        from bench.locks import key_lock

        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return key_lock(self.run_dir / ".locks" / f"{safe}.lock", what)

    def has_cell(self, cell: str) -> bool:
        return (self.rows_dir / f"{cell}.csv").exists()

    def append(self, cell: str, rows: Iterable[Row], state: dict | None = None) -> None:
        """Append a whole cell atomically; a cell that is already stored is left alone.
        `state` (name -> numpy array) is written first, so stored rows always have it (a kill
        between the two leaves a state without rows, which the rerun overwrites)."""
        if self.has_cell(cell):
            return
        frame = pd.DataFrame([asdict(r) for r in rows], columns=COLUMNS)
        with writable(self.run_dir):
            if state is not None:
                import numpy as np

                with atomic.atomic_path(self.state_path(cell)) as tmp:
                    np.savez_compressed(tmp, **state)
            with atomic.atomic_path(self.rows_dir / f"{cell}.csv") as tmp:
                frame.to_csv(tmp, index=False)

    def state_path(self, cell: str) -> Path:
        return self.rows_dir / f"{cell}.state.npz"

    def states(self) -> list[tuple[dict, dict]]:
        """[(cell key: model, variant, seed, task; state arrays)] of every stored cell that has
        a state, in cell order. A damaged state file is a one-line error naming it."""
        import numpy as np

        out = []
        for part in self._parts():
            path = self.state_path(part.stem)
            if not path.exists():
                continue
            first = _read_part(part).iloc[0]
            key = {"task": str(first["task"]), "model": str(first["model"]),
                   "variant": str(first["variant"]), "seed": int(first["seed"])}
            try:
                with np.load(path, allow_pickle=False) as data:
                    state = {k: data[k] for k in data.files}
            except (OSError, ValueError, EOFError) as exc:
                raise BenchError(f"{path}: damaged state file ({exc}); delete it and its "
                                 f"{part.name}, then rerun the run's command") from None
            out.append((key, state))
        return out

    def load(self) -> pd.DataFrame:
        parts = self._parts()
        if not parts:
            return pd.DataFrame(columns=COLUMNS)
        frame = pd.concat([_read_part(p) for p in parts], ignore_index=True)
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
        return frame


def _read_part(path: Path) -> pd.DataFrame:
    """One cell's rows; a damaged file (edited, truncated by a tool that writes in place) is
    a one-line error naming it: its cell is recomputed once the file is deleted."""
    fix = "delete it and rerun the run's command to recompute that cell"
    try:
        frame = pd.read_csv(path, keep_default_na=False)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"{path}: damaged rows file ({reason}); {fix}") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise BenchError(f"{path}: damaged rows file (columns {', '.join(missing)} missing); "
                         f"{fix}")
    return frame


@contextlib.contextmanager
def writable(folder: Path) -> Iterator[None]:
    """Turn an OSError while writing into `folder` (unwritable, a file, a symlink loop,
    disk full) into a one-line error naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        yield
    except OSError as exc:
        raise BenchError(f"--out: cannot write the run folder {folder} "
                         f"({exc.strerror or exc}); choose a writable --out") from None


def load_runs(root: Path | str) -> pd.DataFrame:
    """All rows of every run under `root` (the whole store), with each run's creation time."""
    root = Path(root)
    frames = []
    for run_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not (run_dir / "manifest.json").exists():
            continue
        store = ResultStore(run_dir)
        frame = store.load()
        if len(frame):
            frame["created"] = store.manifest().get("created", "")
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=COLUMNS + ["created"])
    return pd.concat(frames, ignore_index=True)
