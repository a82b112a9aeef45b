"""Where output goes: results to stdout (`out_console`), chatter to stderr (`log`).

Keeping progress and notes on stderr means `bench ... --json | jq` always works.
"""
from __future__ import annotations

import sys

from rich.console import Console

out_console = Console()
err_console = Console(stderr=True)


def log(message: str) -> None:
    err_console.print(message, highlight=False)


def show_progress(requested: bool = True) -> bool:
    """Progress bars only for a person watching: not under --json, not into a log file."""
    return requested and sys.stderr.isatty()
