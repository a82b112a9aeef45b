"""`bench leaderboard`, `bench plot flops-psnr`, `bench plot samples`: all from the store.

One option grammar: `--config/--set/--profile/--out/--json` as everywhere. `--out` (or `out:`
in a config) is the result store these commands read (default results/runs); what they derive
goes to `<out>/reports/`, and into the committed `results/` only with `--write-results`.
`--profile` and `--where key=value` choose the selection of the store a report is computed
from (bench/report/selection.py).
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated, Optional

import typer

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config,
                                   emit_json, log, out_console, resolve_device)

RESULTS_DIR = Path("results")  # the committed reference results (relative to the checkout)

WhereOpt = Annotated[Optional[list[str]], typer.Option(
    "--where", "-w", metavar="KEY=VALUE",
    help="Choose the store selection (repeatable): dataset, profile, n_test, degradation, "
         "data_seed, lr_size, device, threads, precision. Default: the newest complete one.")]
WriteResultsOpt = Annotated[bool, typer.Option(
    "--write-results", metavar="",
    help="Also write into results/ (the committed reference files); default: only the reports/ folder of the store (--out).")]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", metavar="NAME",
                                         help="SR dataset of the eval-sr rows.")]


def _destinations(cfg_out: str, write_results: bool) -> list[Path]:
    dests = [Path(cfg_out) / "reports"]
    if write_results:
        dests.append(RESULTS_DIR)
    return dests


def _copy(path: Path, dest: Path) -> Path:
    from bench import atomic

    target = dest / path.name
    atomic.write_bytes(target, path.read_bytes())
    return target


SORT_COLUMNS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "GMACs", "paper_gflops",
                "params (M)", "latency_ms")


def _check_sort(sort: str) -> None:
    from bench.errors import BenchError
    from bench.registry import did_you_mean

    if sort not in SORT_COLUMNS:
        raise BenchError(f"--sort {sort!r}: expected one of {', '.join(SORT_COLUMNS)}."
                         f"{did_you_mean(sort, SORT_COLUMNS)}")


def _board(config, sets, profile, out, dataset, where, sort="psnr_y"):
    """(cfg, Board) for the selection the options name."""
    from bench.report.leaderboard import build
    from bench.report.selection import annotate, parse_where
    from bench.store import load_runs

    cfg = build_config(config, sets, profile, out)
    chosen = parse_where(where)
    if profile is not None:
        chosen.setdefault("profile", profile)
    store = Path(cfg.out)
    frame = annotate(load_runs(store), store)
    board = build(frame, dataset, sort, chosen)
    _require_rows(frame, board, chosen, dataset, store)
    return cfg, board


def _selections(frame, task: str, metrics, keys, dataset: str | None) -> str:
    """The selections the store does hold for one part, as --where arguments."""
    from bench.report.selection import choose

    for key in set(keys) - set(frame.columns):
        frame = frame.assign(**{key: "?"})
    rows = frame[(frame["task"] == task) & frame["metric"].isin(metrics)]
    if dataset and "dataset" in keys:
        rows = rows[rows["dataset"].astype(str) == dataset]
    _, sel, others = choose(rows, keys, {})
    found = [s.where_args() or s.describe() for s in ([sel] if sel else []) + others]
    return "; ".join(found) if found else "none"


def _require_rows(frame, board, chosen: dict, dataset: str, store: Path) -> None:
    """Never an empty or partial answer: the quality part must exist (PSNR is what is
    ranked), and every --where key must have matched rows of a part it selects; otherwise
    exit 2, write nothing, and list the selections the store holds."""
    from bench.errors import BenchError
    from bench.report.leaderboard import COST, LATENCY, QUALITY
    from bench.report.selection import COST_KEYS, LATENCY_KEYS, QUALITY_KEYS

    asked = " ".join(f"{k}={v}" for k, v in chosen.items())
    with_ = f" with {asked}" if asked else ""
    if board.quality is None or board.table.empty:
        raise BenchError(f"{store}: no eval-sr rows for dataset {dataset!r}{with_}; the store "
                         f"holds: {_selections(frame, 'sr', QUALITY, QUALITY_KEYS, dataset)} "
                         f"(run `bench eval-sr --dataset {dataset}` to add one)")
    for key, value in chosen.items():
        if key in QUALITY_KEYS:
            continue
        part, sel, metrics, keys = (("cost", board.cost, COST, COST_KEYS) if key in COST_KEYS
                                    else ("latency", board.latency, LATENCY, LATENCY_KEYS))
        if sel is None:
            raise BenchError(f"--where {key}={value}: no {part} rows in {store} match; the "
                             f"store holds: {_selections(frame, 'cost', metrics, keys, None)}")


def register(app: typer.Typer, plot_app: typer.Typer) -> None:
    @app.command("leaderboard")
    def leaderboard_cmd(
        dataset: DatasetOpt = "synthsewer-sr",
        where: WhereOpt = None,
        sort: Annotated[str, typer.Option(metavar="COLUMN", help="Column to sort by: psnr_y, ssim_y, psnr_rgb, ssim_rgb, GMACs, paper_gflops, \"params (M)\", latency_ms.")] = "psnr_y",
        write_results: WriteResultsOpt = False,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """A leaderboard shaped like the paper's Table 2 (which has PSNR/SSIM, FLOPs, params),
        from one selection of the store: PSNR/SSIM (`bench eval-sr` rows), GMACs, paper-style
        GFLOPs, params and latency (`bench cost` rows). The title states
        the selection; other selections are listed, never mixed in. Writes Markdown, CSV and
        LaTeX to `reports/` in the store (`--out`), and to `results/` with `--write-results`."""
        from bench.report.leaderboard import rich_tables, write_leaderboard

        _check_sort(sort)
        cfg, board = _board(config, sets, profile, out, dataset, where, sort)
        paths = [p for d in _destinations(cfg.out, write_results)
                 for p in write_leaderboard(board, d)]
        if as_json:
            emit_json({**board.as_dict(), "sort": sort, "files": [str(p) for p in paths]})
            return
        for t in rich_tables(board, out_console.width):
            out_console.print(t)
        for line in board.notes():
            log(line)
        log("written: " + ", ".join(str(p) for p in paths))

    @plot_app.command("flops-psnr")
    def flops_psnr(
        dataset: DatasetOpt = "synthsewer-sr",
        where: WhereOpt = None,
        x: Annotated[str, typer.Option("--x", metavar="GMACs|paper_gflops", help="x axis.")] = "GMACs",
        write_results: WriteResultsOpt = False,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """The paper's Figure 7: cost vs PSNR-Y per backend (PNG and PDF), from the same
        selection `bench leaderboard` shows (its title states it)."""
        from bench.errors import BenchError
        from bench.report.plots import plot_flops_psnr

        if x not in ("GMACs", "paper_gflops"):
            raise BenchError(f"--x {x!r}: expected GMACs or paper_gflops")
        cfg, board = _board(config, sets, profile, out, dataset, where)
        title = "\n".join(textwrap.wrap(board.title(), 90))
        paths = [p for d in _destinations(cfg.out, write_results)
                 for p in plot_flops_psnr(board.table, d / "flops_psnr", x=x, title=title)]
        if as_json:
            emit_json({"title": board.title(), "selection": board.as_dict()["selection"],
                       "files": [str(p) for p in paths]})
            return
        for line in board.notes():
            log(line)
        out_console.print("written: " + ", ".join(str(p) for p in paths))

    @plot_app.command("samples")
    def samples(
        backend: Annotated[Optional[list[str]], typer.Option("--backend", "-b", metavar="NAME", help="SR backend (repeatable; default: bicubic).")] = None,
        dataset: Annotated[str, typer.Option("--dataset", "-d", metavar="NAME", help="SR dataset to take test images from.")] = "synthsewer-sr",
        n: Annotated[int, typer.Option("--n", metavar="N", help="Number of test images.")] = 3,
        crop: Annotated[int, typer.Option(metavar="PIXELS", help="Crop size in HR pixels (centre of the far region).")] = 96,
        write_results: WriteResultsOpt = False,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """LR | each SR | HR crops side by side (the paper's Figures 6 and 8). Uses trained
        weights and cached SR outputs; never trains. Writes to `reports/` in the store
        (`--out`), and to `results/` with `--write-results`."""
        from bench.errors import BenchError
        from bench.report.samples import plot_samples

        if n < 1:
            raise BenchError(f"--n {n}: expected 1 or more test images")
        if crop < 8:
            raise BenchError(f"--crop {crop}: expected a crop of at least 8 HR pixels")
        cfg = build_config(config, sets, profile, out)
        first, *more = _destinations(cfg.out, write_results)
        paths = plot_samples(cfg, backend or ["bicubic"], dataset, n, crop, first / "samples",
                             resolve_device(cfg.device))
        paths += [_copy(p, d) for d in more for p in list(paths)]
        if as_json:
            emit_json({"files": [str(p) for p in paths]})
            return
        out_console.print("written: " + ", ".join(str(p) for p in paths))
