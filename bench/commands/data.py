"""`bench ls ...` and `bench synth`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bench.commands.common import JsonOpt, emit_json, log, out_console
from bench.errors import BenchError

SYNTH_VIEWS = {"sr": "synthsewer-sr", "pipe": "synthsewer-pipe", "cls": "synthsewer-cls"}


def _listing(what: str) -> list[dict[str, object]]:
    if what == "tasks":
        from tasks import TASK_MODELS, TASKS, models_for

        out = []
        for name in TASKS.names():
            spec = TASKS.get(name)
            out.append({"name": name, "description": spec.description,
                        "dataset": spec.default_dataset,
                        "metrics": ", ".join(m.name for m in spec.metrics),
                        "models": "; ".join(f"{m}: {TASK_MODELS.description(f'{name}/{m}')}"
                                            for m in models_for(name))})
        return out
    if what == "metrics":
        from bench.catalogue import catalogue

        return [{"name": m.name, "unit": m.unit, "higher_is_better": m.higher_is_better,
                 "description": m.description} for m in catalogue().values()]
    if what == "backends":
        from sr_backends import BACKENDS as reg
    else:
        from bench.datasets import DATASETS as reg
    return [{"name": n, "description": reg.description(n)} for n in reg.names() + reg.patterns()]


def _show(listing: str, as_json: bool) -> None:
    rows = _listing(listing)
    if as_json:
        emit_json(rows)
        return
    notes: list[str] = []
    if listing == "tasks":  # model names in the table (typed by users), their presets below it
        from tasks import TASK_MODELS, models_for

        for row in rows:
            task = str(row["name"])
            notes.append(f"{task}: {row.pop('description')}")
            row["models"] = ", ".join(models_for(task))
            notes += [f"{task}/{m}: {TASK_MODELS.description(f'{task}/{m}')}"
                      for m in models_for(task)]
    table = Table(title=listing)
    for key in rows[0]:
        # names are what a user types: never cut ("classificati…"), whatever the width
        whole = key in ("name", "dataset", "unit")
        words = [w for r in rows for w in (str(r[key]).split(", ") if key == "models" else [])]
        table.add_column(key, no_wrap=whole, min_width=(
            max(len(str(r[key])) for r in rows) if whole else max(map(len, words), default=None)))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    out_console.print(table)
    for line in notes:
        out_console.print(line, highlight=False)


def register(app: typer.Typer, ls_app: typer.Typer) -> None:
    @ls_app.command("backends")
    def ls_backends(as_json: JsonOpt = False) -> None:
        """SR backends (bicubic, EDSR, RCAN, ATD, DSRNet, external)."""
        _show("backends", as_json)

    @ls_app.command("datasets")
    def ls_datasets(as_json: JsonOpt = False) -> None:
        """Datasets: SynthSewer views and the real-data folder formats."""
        _show("datasets", as_json)

    @ls_app.command("tasks")
    def ls_tasks(as_json: JsonOpt = False) -> None:
        """Downstream tasks: default dataset, metrics and models (with their size presets)."""
        _show("tasks", as_json)

    @ls_app.command("metrics")
    def ls_metrics(as_json: JsonOpt = False) -> None:
        """Metrics and their conventions."""
        _show("metrics", as_json)

    @app.command("synth")
    def synth(
        view: Annotated[str, typer.Option("--view", help="sr | pipe | cls")] = "pipe",
        out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the dataset into.")] = Path("synthsewer"),
        seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
        n_train: Annotated[int, typer.Option(help="Training images.")] = 64,
        n_val: Annotated[int, typer.Option(help="Validation images.")] = 16,
        n_test: Annotated[int, typer.Option(help="Test images.")] = 32,
        as_json: JsonOpt = False,
    ) -> None:
        """Write SynthSewer in a real format: sr -> SR folder, pipe -> images + PNG masks +
        COCO/YOLO boxes, cls -> Sewer-ML CSVs. The matching loaders read it back identically."""
        if view not in SYNTH_VIEWS:
            raise BenchError(f"--view {view!r}: expected one of {', '.join(SYNTH_VIEWS)}")
        from bench.datasets import open_dataset
        from bench.datasets import writers

        dataset = open_dataset(SYNTH_VIEWS[view], seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
        write = {"sr": writers.write_srfolder, "pipe": writers.write_pipe, "cls": writers.write_sewerml}[view]
        log(f"writing {SYNTH_VIEWS[view]} (seed {seed}, {n_train}/{n_val}/{n_test}) to {out}")
        write(dataset, out)
        loader = {"sr": "srfolder", "pipe": "pipe", "cls": "sewerml"}[view]
        result = {"view": view, "dataset": SYNTH_VIEWS[view], "out": str(out), "loader": loader,
                  "n": {"train": n_train, "val": n_val, "test": n_test}}
        if as_json:
            emit_json(result)
        else:
            out_console.print(f"wrote {out}; read it back with --dataset {loader} --data-root {out}")
