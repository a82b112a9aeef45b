"""Where output goes: results to stdout (`out_console`), chatter to stderr (`log`).

Keeping progress and notes on stderr means `bench ... --json | jq` always works.
"""
from __future__ import annotations

import sys

from rich.console import Console

# Piped output (logs, CI) would otherwise be cut at 80 columns and truncate the Δ tables.
out_console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def log(message: str) -> None:
    err_console.print(message, highlight=False)


def show_progress(requested: bool = True) -> bool:
    """Progress bars only for a person watching: not under --json, not into a log file."""
    return requested and sys.stderr.isatty()
