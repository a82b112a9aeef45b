"""Options every command shares, and how they become a validated `BenchConfig`.

Human-facing chatter goes to stderr (bench.console.log); results go to stdout.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from bench.config import BenchConfig, load_config
from bench.console import err_console, log, out_console, show_progress  # noqa: F401 (re-export)

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", metavar="FILE", help="YAML config file (merged over defaults and profile).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a config key: --set task.epochs=5 (repeatable).")]
ProfileOpt = Annotated[Optional[str], typer.Option("--profile", "-p", metavar="smoke|quick|paper", help="smoke | quick | paper (default: quick).")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Folder for run outputs (default: results/runs).")]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print machine-readable JSON on stdout.")]

def build_config(config: Path | None, sets: list[str] | None, profile: str | None,
                 out: Path | None, **direct: Any) -> BenchConfig:
    """Validate the whole config once, at the boundary; apply `threads` right away."""
    if out is not None:
        direct["out"] = str(out)
    cfg = load_config(profile=profile, config_file=config, overrides=sets or [], **direct)
    apply_runtime(cfg)
    return cfg


def apply_runtime(cfg: BenchConfig) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # timm/smp fail fast instead of retrying
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)


def resolve_device(name: str) -> str:
    """`auto` -> cuda when present, else cpu; an explicit device must exist on this machine."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            from bench.errors import ConfigError

            found = torch.cuda.device_count() if torch.cuda.is_available() else 0
            raise ConfigError(f"device={name!r}: this machine has {found} CUDA device(s); use "
                              "device=cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        from bench.errors import ConfigError

        raise ConfigError("device='mps': MPS is not available on this machine; use cpu or auto")
    return name


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, float):
        return obj
    return str(obj)
