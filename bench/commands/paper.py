"""`bench paper-compare`: a run's Δ pattern beside the paper's Tables 3-9 (bench/report/
paper_compare.py); `bench paper-errata`: the paper's misprints recomputed from its own rows."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bench.commands.common import JsonOpt, emit_json, log
from bench.errors import BenchError


def _mapping(items: list[str] | None) -> dict[str, str]:
    out = {}
    for text in items or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise BenchError(f"--map {text!r}: expected COLUMN=BACKEND, e.g. D=dsrnet-plus")
        if key.strip() not in ("D", "A"):
            raise BenchError(f"--map {text!r}: the paper's SR columns are D (DSRNet) and A (ATD)")
        out[key.strip()] = value.strip()
    return out


def register(app: typer.Typer) -> None:
    @app.command("paper-compare")
    def paper_compare(
        run: Annotated[list[Path], typer.Option(
            "--run", "-r", metavar="DIR",
            help="Run folder (manifest.json + rows/) or a folder of exported tables such as "
                 "results/segmentation-quick (repeatable).")],
        map_: Annotated[Optional[list[str]], typer.Option(
            "--map", metavar="COLUMN=BACKEND",
            help="Our backend standing in for the paper's D (DSRNet) or A (ATD) column "
                 "(repeatable); default: results/paper/methods.csv.")] = None,
        write: Annotated[Optional[Path], typer.Option(
            "--write", metavar="DIR", help="Also write paper-compare.csv and .md here.")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Our run's Δ signs beside the paper's Tables 3-9, per class and Δ; every paper number
        labelled as the paper's. Signs compare against the Δ recomputed from the paper's own
        rows (its printed Δs have errata: `bench paper-errata`)."""
        from bench.report.paper_compare import compare, load_ours, summary, to_markdown, write_report

        mapping = _mapping(map_)
        ours = {}
        for source in run:
            ours.update(load_ours(source))
        frame = compare(ours, mapping)
        if frame.empty:
            raise BenchError("no paper table matches the task models of "
                             + ", ".join(map(str, run)) + " (paper: fcn, deeplabv3plus, "
                             "yolov5s, ssd, inception_v3, resnet101, two-stage)")
        files = [str(p) for p in write_report(frame, write)] if write else []
        if as_json:
            emit_json({"summary": summary(frame), "files": files,
                       "rows": frame.astype(object).where(frame.notna(), None)
                       .to_dict(orient="records")})
            return
        typer.echo(to_markdown(frame), nl=False)  # Markdown: never wrapped to the console
        if files:
            log("written: " + ", ".join(files))

    @app.command("paper-errata")
    def paper_errata(as_json: JsonOpt = False) -> None:
        """The paper's printed values that do not follow from its own rows (Tables 2-11),
        recomputed from results/paper/; the same list as results/paper/errata.csv."""
        from bench.report.paper_errata import errata

        frame = errata()
        if as_json:
            emit_json({"errata": frame.to_dict(orient="records")})
            return
        lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
        lines += ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |"
                  for row in frame.itertuples(index=False)]
        typer.echo("\n".join(lines))
        typer.echo(f"{len(frame)} errata; the printed values above are the paper's, the "
                   "recomputed ones follow from its own rows (docs/paper.md)")
