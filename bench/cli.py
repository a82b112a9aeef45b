"""`bench`: the command-line entry point.

Every command validates its config once (bench.config) and then works with typed objects.
User mistakes (bad file, unknown name or key) print one line and exit 2; Ctrl-C exits 130 with
a hint that rerunning the same command resumes; nothing already written is lost.
"""
from __future__ import annotations

import shlex
import sys
import warnings
from typing import Annotated

import typer

try:  # recent typer vendors its own click; older ones use the click package
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc

from bench.commands import data as data_cmds
from bench.commands import export as export_cmds
from bench.commands import paper as paper_cmds
from bench.commands import perf as perf_cmds
from bench.commands import reports as report_cmds
from bench.commands import run as run_cmds
from bench.commands import sr as sr_cmds
from bench.commands import study as study_cmds
from bench.errors import BenchError
from bench.registry import UnknownNameError

app = typer.Typer(
    name="bench",
    help="Benchmark super-resolution backends on sewer-inspection tasks: does SR make defect "
         "segmentation better, per class, and at what compute cost?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

ls_app = typer.Typer(help="List what the registries hold.", no_args_is_help=True)
app.add_typer(ls_app, name="ls")
plot_app = typer.Typer(help="Plots derived from the result store.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")
perf_app = typer.Typer(help="Performance measurements (DSRNet matching, backend latency).", no_args_is_help=True)
app.add_typer(perf_app, name="perf")

data_cmds.register(app, ls_app)
sr_cmds.register(app)
perf_cmds.register(perf_app, app)  # also `bench cost`
run_cmds.register(app)
export_cmds.register(app)
report_cmds.register(app, plot_app)
study_cmds.register(app)
paper_cmds.register(app)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", metavar="", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from importlib.metadata import version as v

        typer.echo(v("sewer-sr-bench"))
        raise typer.Exit()


def _interrupted(argv: list[str] | None, signum: int | None = None) -> int:
    """Ctrl-C or SIGTERM (Slurm, Ray, `docker stop`): one line saying what is saved and the
    command that resumes; exit 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""
    import signal

    from bench import interrupt

    command = "bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    by = " by SIGTERM" if signum == signal.SIGTERM else ""
    typer.secho(f"interrupted{by}: {interrupt.saved_note()}; resume with: {command}", err=True,
                fg="yellow")
    return 128 + (signum or signal.SIGINT)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library's warning as one line of the run's log (its message, not the source line
    that raised it): e.g. `warning: dsrnet: L_per skipped: no local VGG19 weights ...`."""
    from bench.console import log

    log(f"[yellow]warning[/]: {str(message).strip()}")


def main(argv: list[str] | None = None) -> int:
    from bench import interrupt
    from bench.allocator import keep_freed_memory
    from bench.wait_policy import choose_waiting

    keep_freed_memory()  # here, not at import: a process-wide setting only the CLI may choose
    choose_waiting()     # before torch is imported (bench/wait_policy.py says why)
    shown_by, warnings.showwarning = warnings.showwarning, _one_line_warning
    interrupt.clear()
    interrupt.begin(sys.argv[1:] if argv is None else argv)
    pressed: list[int] = []

    def on_signal(signum, frame):  # typer turns KeyboardInterrupt into a silent exit 130
        if pressed:  # a second signal while unwinding: do not interrupt the cleanup
            return
        pressed.append(signum)
        raise KeyboardInterrupt

    previous = _install_handlers(on_signal)
    try:
        # with standalone_mode=False click returns typer.Exit's code instead of raising it
        code = app(args=argv, standalone_mode=False)
    except (BenchError, UnknownNameError) as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted(argv, pressed[0] if pressed else None)
    except click_exc.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        return exc.exit_code
    finally:
        _install_handlers(previous)
        warnings.showwarning = shown_by  # in-process callers (tests) get theirs back
    if pressed and code == 130:
        return _interrupted(argv, pressed[0])
    return code if isinstance(code, int) else 0


def _install_handlers(handler):
    """Set the SIGINT and SIGTERM handlers (main thread only); returns the previous ones.
    `handler` is one callable for both, or the {signal: handler} this returned before."""
    import signal
    import threading

    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    signals = (signal.SIGINT, signal.SIGTERM)
    new = handler if isinstance(handler, dict) else dict.fromkeys(signals, handler)
    return {sig: signal.signal(sig, h) for sig, h in new.items() if h is not None}


if __name__ == "__main__":
    sys.exit(main())
