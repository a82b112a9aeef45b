"""`bench study`: every task x every SR backend x seeds, and one report of them (bench/study.py)."""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config,
                                   emit_json, log, resolve_device, show_progress)

StudyOpt = Annotated[str, typer.Option(
    "--study", metavar="NAME|FILE",
    help="Which study: a name from configs/studies/ (quick, smoke) or a YAML file.")]


def register(app: typer.Typer) -> None:
    @app.command("study")
    def study(
        name: StudyOpt = "quick",
        report: Annotated[Optional[Path], typer.Option("--report", metavar="DIR", help="Where the report goes (default: OUT/studies/STUDY-PROFILE).")] = None,
        executor: Annotated[Optional[str], typer.Option("--executor", "-x", help="local (default) | ray.")] = None,
        ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster: auto | HOST:PORT (default: start a local one).")] = None,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """The whole study from one command: image quality and cost of every SR backend,
        then every task with every backend as an SR column and several task-model seeds; one
        Markdown report (leaderboard, cost-vs-PSNR figure, Kendall τ rank agreement between
        PSNR-Y and each task, every Δ table) plus CSVs. Each part resumes from the store."""
        from bench.errors import BenchError
        from bench.report.study import write_report
        from bench.study import load_study, run_study, save_parts

        if executor is not None and executor not in ("local", "ray"):
            raise BenchError(f"--executor {executor!r}: expected local or ray")
        spec = load_study(name)
        direct = {"executor.name": executor, "executor.address": ray_address}

        def build(**part):
            return build_config(config, sets, profile, out, **direct, **part)

        cfg = build()
        device = resolve_device(cfg.device)
        t0 = time.monotonic()
        parts = run_study(spec, build, device, progress=show_progress(not as_json))
        seconds = time.monotonic() - t0
        stem = Path(name).stem
        report_dir = report or Path(cfg.out) / "studies" / f"{stem}-{cfg.profile}"
        command = "bench " + shlex.join(sys.argv[1:])
        header = [f"# Study `{stem}` — profile {cfg.profile}", "",
                  f"- command: `{command}`",
                  f"- tasks: {', '.join(spec.tasks)}; SR backends: {', '.join(spec.backends)}; "
                  f"task-model seeds: {', '.join(map(str, spec.seeds))}",
                  f"- device {device}; this invocation took {seconds / 60:.1f} min "
                  f"(parts already stored are not recomputed: "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in parts.seconds.items()) + ")"]
        files = write_report(report_dir, Path(cfg.out), parts.sr_run, parts.cost_run,
                             parts.task_runs, list(spec.backends), spec.sr_dataset, header)
        save_parts(parts, report_dir / "parts.json")
        if as_json:
            emit_json({"report": str(report_dir / "study.md"), "seconds": round(seconds, 1),
                       "parts_seconds": {k: round(v, 1) for k, v in parts.seconds.items()},
                       "files": [str(f) for f in files]})
            return
        log(f"study done in {seconds / 60:.1f} min; report: {report_dir / 'study.md'}")
