"""What Ctrl-C or SIGTERM (Slurm, Ray, container stops) leaves behind, in one line: the code
that saves things registers a description (`saved(...)`), and the CLI prints it with the
command that resumes (bench/cli.py; exit 130 for Ctrl-C, 143 for SIGTERM).

Everything the harness writes is atomic (bench/atomic.py), so an interrupt never leaves a
half-written file; the description says which finished work is kept.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

_describe: Callable[[], str] | None = None
_argv: list[str] = []
# The options that choose a config: weights and caches are keyed by it, so a suggested
# command must repeat them to act on the same profile/config (flag -> takes a value).
CONFIG_FLAGS = ("--profile", "-p", "--config", "-c", "--set", "-s", "--out", "-o")


def begin(argv: list[str]) -> None:
    """The CLI records the command line it runs (for `config_flags`)."""
    global _argv
    _argv = list(argv)


def config_flags() -> str:
    """' --profile smoke --set k=v ...': the config-choosing options of the running command,
    shell-quoted, for fix hints that must act on the same config ('' when none)."""
    import shlex

    keep: list[str] = []
    args = iter(_argv)
    for arg in args:
        flag, eq, value = arg.partition("=")
        if flag in CONFIG_FLAGS and flag.startswith("--") and eq:
            keep.append(arg)
        elif arg in CONFIG_FLAGS:
            keep += [arg, next(args, "")]
    return " " + shlex.join(keep) if keep else ""


def saved(describe: Callable[[], str]) -> None:
    """Register how to describe what is saved so far (called lazily, at the interrupt)."""
    global _describe
    _describe = describe


@contextmanager
def noting(describe: Callable[[], str]) -> Iterator[None]:
    """`saved(describe)` for the duration of a block, then the note that was there before."""
    global _describe
    before = _describe
    _describe = describe
    try:
        yield
    finally:
        _describe = before


def clear() -> None:
    global _describe
    _describe = None


def saved_note() -> str:
    if _describe is None:
        return "every file written so far is complete (all writes are atomic)"
    try:
        return _describe()
    except Exception:  # a note must never turn Ctrl-C into a traceback
        return "everything finished so far is saved"
