"""`bench`: the command-line entry point.

Every command validates its config once (bench.config) and then works with typed objects.
User mistakes (bad file, unknown name or key) print one line and exit 2; Ctrl-C exits 130 with
a hint that rerunning the same command resumes; nothing already written is lost.
"""
from __future__ import annotations

import shlex
import sys
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


def _interrupted(argv: list[str] | None) -> int:
    """Ctrl-C: one line saying what is saved and the command that resumes; exit 130."""
    from bench import interrupt

    command = "bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    typer.secho(f"interrupted: {interrupt.saved_note()}; resume with: {command}", err=True,
                fg="yellow")
    return 130


def main(argv: list[str] | None = None) -> int:
    from bench import interrupt
    from bench.allocator import keep_freed_memory

    keep_freed_memory()  # here, not at import: a process-wide setting only the CLI may choose
    interrupt.clear()
    pressed: list[bool] = []

    def on_sigint(signum, frame):  # typer turns KeyboardInterrupt into a silent exit 130
        pressed.append(True)
        raise KeyboardInterrupt

    previous = _install_sigint(on_sigint)
    try:
        # with standalone_mode=False click returns typer.Exit's code instead of raising it
        code = app(args=argv, standalone_mode=False)
    except (BenchError, UnknownNameError) as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted(argv)
    except click_exc.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        return exc.exit_code
    finally:
        _install_sigint(previous)
    if pressed and code == 130:
        return _interrupted(argv)
    return code if isinstance(code, int) else 0


def _install_sigint(handler):
    """Set the SIGINT handler (main thread only); returns the previous one."""
    import signal
    import threading

    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler)


if __name__ == "__main__":
    sys.exit(main())
