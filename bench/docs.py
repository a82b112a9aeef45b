"""The README's command table, generated from the CLI itself.

    python -m bench.docs                 # print the table
    python -m bench.docs --write README.md   # replace the block between the markers
    python -m bench.docs --check README.md   # exit 1 when the README's block is stale

The block sits between `<!-- commands:start ... -->` and `<!-- commands:end -->`; only that
block is replaced. tests/test_docs.py checks that the README matches this output, so a new
command or option shows up in the README or fails the tests.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

START, END = "<!-- commands:start", "<!-- commands:end -->"


_TYPE_NAMES = {"str": "TEXT", "int": "INT", "float": "NUMBER", "Path": "PATH"}


def _option_text(param) -> str:
    name = max(param.opts, key=len)
    if getattr(param, "is_flag", False):
        return f"{name}/{max(param.secondary_opts, key=len)}" if param.secondary_opts else name
    bare = param.bare_type() if hasattr(param, "bare_type") else "value"
    repeated = bare.startswith("list[") or getattr(param, "multiple", False)
    bare = bare[5:-1] if bare.startswith("list[") else bare
    metavar = param.metavar or _TYPE_NAMES.get(bare, bare.upper())
    repeat = " …" if repeated else ""
    return f"{name} {metavar}{repeat}"


def _commands(group, prefix: str = "bench"):
    # duck-typed: recent typer vendors its own click, older ones use the click package
    for name in sorted(group.commands, key=list(group.commands).index):
        cmd = group.commands[name]
        if getattr(cmd, "hidden", False):
            continue
        path = f"{prefix} {name}"
        if hasattr(cmd, "commands"):  # a sub-group (ls, plot, perf)
            yield from _commands(cmd, path)
            continue
        options = [_option_text(p) for p in cmd.params
                   if getattr(p, "param_type_name", "") == "option" and not p.hidden
                   and "--help" not in p.opts]
        summary = (cmd.help or "").strip().split("\n\n")[0].replace("\n", " ")
        first = summary.split(". ")[0].rstrip(".")
        yield path, first, options


def table() -> str:
    """Markdown: one row per command with every option it accepts."""
    import typer

    from bench.cli import app

    lines = ["| command | options | what it does |", "|---|---|---|"]
    for path, summary, options in _commands(typer.main.get_command(app)):
        opts = " ".join(f"`{o}`".replace("|", "\\|") for o in options) or "–"
        lines.append(f"| `{path}` | {opts} | {summary.replace('|', '/')} |")
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """`text` with the lines between the START and END markers replaced by `block`."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith(START))
        end = next(i for i, ln in enumerate(lines) if ln.strip() == END and i > start)
    except StopIteration:
        raise SystemExit(f"no {START} ... {END} block found") from None
    return "".join(lines[:start + 1]) + block.rstrip("\n") + "\n" + "".join(lines[end:])


def block_of(text: str) -> str:
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith(START))
    end = next(i for i, ln in enumerate(lines) if ln.strip() == END and i > start)
    return "\n".join(lines[start + 1:end])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.docs", description=__doc__.split("\n")[0])
    parser.add_argument("--write", type=Path, metavar="README", help="replace the block in this file")
    parser.add_argument("--check", type=Path, metavar="README", help="exit 1 if its block is stale")
    args = parser.parse_args(argv)
    generated = table()
    if args.write:
        args.write.write_text(replace_block(args.write.read_text(), generated))
        print(f"updated the command table in {args.write}")
    elif args.check:
        if block_of(args.check.read_text()) != generated:
            print(f"{args.check}: the command table is stale; run python -m bench.docs "
                  f"--write {args.check}", file=sys.stderr)
            return 1
    else:
        print(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
