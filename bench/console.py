"""Where output goes: results to stdout (`out_console`), chatter to stderr (`log`), and how
long work reports progress (`Heartbeat`).

Keeping progress and notes on stderr means `bench ... --json | jq` always works. Tables are
laid out to fit the console's width (80 columns in a pipe, `COLUMNS` if set, the terminal's
width on a TTY), so a log shows the same tables a terminal does. Text lines never wrap, on
stdout or stderr (`soft_wrap`): one status, path or finding = one line, whatever the width,
so logs stay greppable.
"""
from __future__ import annotations

import sys
import time
from typing import Callable

from rich.console import Console



class _LineConsole(Console):
    """A console whose plain-text lines never wrap (`soft_wrap`), while tables and other
    renderables keep the console's width: a path or a `regression:` line stays one line in a
    pipe or a CI log (a terminal wraps it on screen), and a table still fits 80 columns."""

    def print(self, *objects, soft_wrap=None, **kwargs):  # type: ignore[override]
        if soft_wrap is None and objects and all(isinstance(o, str) for o in objects):
            soft_wrap = True
        return super().print(*objects, soft_wrap=soft_wrap, **kwargs)


out_console = _LineConsole()
err_console = _LineConsole(stderr=True)

# A pipe or CI log gets one status line per HEARTBEAT_S seconds of work (the bound
# is one per minute; half of it leaves room for one slow step).
HEARTBEAT_S = 30.0


SMOKE_NOTE = ("smoke profile: a pipeline check only (tiny models, a few steps and images); its "
              "numbers are meaningless, use --profile quick or paper for results")


def smoke_note(profile: str) -> None:
    """The one line every command that computes numbers prints under the smoke profile."""
    if profile == "smoke":
        log(f"[yellow]{SMOKE_NOTE}[/]")


def log(message: str) -> None:
    err_console.print(message, highlight=False)


def show_progress(requested: bool = True) -> bool:
    """Progress bars only for a person watching: not under --json, not into a log file.
    Where this is False, long loops still print `Heartbeat` lines (to stderr)."""
    return requested and sys.stderr.isatty()


def _monotonic() -> float:
    """The heartbeat's clock (looked up at each call, so a test can fake the time)."""
    return time.monotonic()


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


class Heartbeat:
    """Periodic one-line status for a loop of `total` steps when nobody watches a bar:
    `label: step 120/600 (20%), 1 min 02 s elapsed, ETA 4 min 08 s; loss 0.031`.

    `update(done)` is cheap: it prints only when `interval` seconds passed since the last
    line (and never for the first step), so a loop can call it every step. The ETA is the
    mean time per step since the heartbeat started times the steps left. `clock` and `emit`
    are injectable so the cadence is tested without waiting; `last_line` carries the time of
    the previous stage's last line over to the next stage.
    """

    def __init__(self, label: str, total: int, *, start_step: int = 0,
                 interval: float = HEARTBEAT_S, clock: Callable[[], float] | None = None,
                 emit: Callable[[str], None] | None = None, last_line: float | None = None):
        self.label, self.total, self.interval = label, total, interval
        self.clock = clock if clock is not None else (lambda: _monotonic())
        self.emit = emit if emit is not None else (lambda line: log(line))
        self.start_step = start_step
        self.t0 = self.clock()
        # the previous stage's last line, so a chain of short stages still reports
        self.last_line = self.t0 if last_line is None else last_line
        self.lines = 0

    def update(self, done: int, text: str = "") -> bool:
        """Report `done` steps finished; returns True when a line was printed."""
        now = self.clock()
        if now - self.last_line < self.interval:
            return False
        self.last_line = now
        self.emit(self.status(done, now, text))
        self.lines += 1
        return True

    def status(self, done: int, now: float | None = None, text: str = "") -> str:
        now = self.clock() if now is None else now
        elapsed = now - self.t0
        parts = [f"{self.label}: step {done}/{self.total}"]
        if self.total > 0:
            parts[0] += f" ({100 * done / self.total:.0f}%)"
        parts.append(f"{_clock_text(elapsed)} elapsed")
        progressed = done - self.start_step
        if progressed > 0 and self.total > done:
            parts.append(f"ETA {_clock_text(elapsed / progressed * (self.total - done))}")
        line = ", ".join(parts)
        return f"{line}; {text}" if text else line
