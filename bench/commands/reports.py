"""`bench leaderboard`, `bench plot flops-psnr`, `bench plot samples`: all from the store."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config,
                                   emit_json, log, out_console, resolve_device)

StoreOpt = Annotated[Path, typer.Option("--store", help="Folder holding the runs (the result store).")]
DestOpt = Annotated[Path, typer.Option("--dest", help="Where to write the tables / figures.")]


def register(app: typer.Typer, plot_app: typer.Typer) -> None:
    @app.command("leaderboard")
    def leaderboard_cmd(
        store: StoreOpt = Path("results/runs"),
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset of the eval-sr rows.")] = "synthsewer-sr",
        sort: Annotated[str, typer.Option(help="Column to sort by (psnr_y, ssim_y, GMACs, params (M), latency_ms...).")] = "psnr_y",
        dest: DestOpt = Path("results"),
        as_json: JsonOpt = False,
    ) -> None:
        """The paper's Table 2: PSNR, SSIM, GMACs, params, latency per backend (Markdown, CSV,
        LaTeX). Quality comes from `bench eval-sr` rows, cost from `bench cost` rows."""
        from bench.errors import BenchError
        from bench.report.leaderboard import leaderboard, write_leaderboard
        from bench.store import load_runs

        table = leaderboard(load_runs(store), dataset, sort)
        if table.empty:
            raise BenchError(f"{store}: no eval-sr rows for dataset {dataset!r}; run "
                             f"`bench eval-sr --backend ... --dataset {dataset}` first")
        paths = write_leaderboard(table, dest, dataset)
        if as_json:
            emit_json({"leaderboard": table.round(6).to_dict(orient="index"),
                       "files": [str(p) for p in paths]})
            return
        t = Table(title=f"SR leaderboard on {dataset} (sorted by {sort})")
        t.add_column("backend")
        for c in table.columns:
            t.add_column(c, justify="right")
        from bench.report.leaderboard import _fmt

        for name, row in table.iterrows():
            t.add_row(str(name), *(_fmt(c, v) for c, v in row.items()))
        out_console.print(t)
        log("written: " + ", ".join(str(p) for p in paths))

    @plot_app.command("flops-psnr")
    def flops_psnr(
        store: StoreOpt = Path("results/runs"),
        dataset: Annotated[str, typer.Option("--dataset", "-d")] = "synthsewer-sr",
        x: Annotated[str, typer.Option(help="x axis: GMACs or paper_gflops.")] = "GMACs",
        dest: DestOpt = Path("results"),
    ) -> None:
        """The paper's Figure 7: cost vs PSNR-Y, labelled scatter (PNG and PDF)."""
        from bench.report.leaderboard import leaderboard, plot_flops_psnr
        from bench.store import load_runs

        paths = plot_flops_psnr(leaderboard(load_runs(store), dataset), dest / "flops_psnr", x=x)
        out_console.print("written: " + ", ".join(str(p) for p in paths))

    @plot_app.command("samples")
    def samples(
        backend: Annotated[Optional[list[str]], typer.Option("--backend", "-b")] = None,
        dataset: Annotated[str, typer.Option("--dataset", "-d")] = "synthsewer-sr",
        n: Annotated[int, typer.Option(help="Number of test images.")] = 3,
        crop: Annotated[int, typer.Option(help="Crop size in HR pixels (centre of the far region).")] = 96,
        dest: DestOpt = Path("results"),
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None, out: OutOpt = None,
    ) -> None:
        """LR | each SR | HR crops side by side (the paper's Figures 6 and 8). Uses trained
        weights and cached SR outputs; never trains."""
        from bench.report.samples import plot_samples

        cfg = build_config(config, sets, profile, out)
        paths = plot_samples(cfg, backend or ["bicubic"], dataset, n, crop, dest / "samples",
                             resolve_device(cfg.device))
        out_console.print("written: " + ", ".join(str(p) for p in paths))
