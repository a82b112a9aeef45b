"""SR commands: `bench eval-sr`, `bench train-sr`, `bench cost`, `bench perf ...`."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config,
                                   emit_json, log, out_console, resolve_device)
from bench.errors import BenchError

BackendOpt = Annotated[list[str], typer.Option("--backend", "-b", help="SR backend (repeatable); `bench ls backends`.")]


def _size(text: str, what: str) -> tuple[int, int]:
    """'128x96' (width x height) -> (height, width)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise BenchError(f"{what} {text!r}: expected WIDTHxHEIGHT, e.g. 128x128") from None
    return h, w


def _command_line() -> str:
    return "bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def register(app: typer.Typer, perf_app: typer.Typer) -> None:
    @app.command("eval-sr")
    def eval_sr(
        backend: BackendOpt = None,
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="SR dataset: synthsewer-sr or srfolder.")] = "synthsewer-sr",
        data_root: Annotated[Optional[Path], typer.Option(help="Folder of a real-format dataset.")] = None,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Image quality (PSNR/SSIM on Y and RGB, crop border = scale) of SR backends on the
        test split; appends rows to the result store."""
        from bench.cache import Cache, cache_root
        from bench.datasets import DATASETS, open_dataset
        from bench.sr_eval import evaluate_sr, run_dir_for
        from bench.store import ResultStore
        from sr_backends import BACKENDS

        cfg = build_config(config, sets, profile, out)
        names = backend or ["bicubic"]
        for name in names:
            BACKENDS.check(name)
        DATASETS.check(dataset)
        budget = cfg.sr.train
        data = open_dataset(dataset, seed=cfg.data.seed, n_train=budget.n_train, n_val=budget.n_val,
                            n_test=budget.n_test, data_root=data_root)
        device = resolve_device(cfg.device)
        store = ResultStore(run_dir_for(cfg, "eval-sr", dataset, data.fingerprint()))
        store.write_manifest(cfg.model_dump(mode="json"), device=device, command=_command_line(),
                             extra={"dataset": dataset})
        table = evaluate_sr(cfg, names, data, store, Cache(cache_root(cfg.cache_dir)), device,
                            progress=not as_json)
        if as_json:
            emit_json({"run": store.run_id, "dataset": dataset, "split": "test",
                       "conventions": "Y = BT.601 luma (16-235); crop border = scale; SSIM 11x11 "
                                      "Gaussian sigma 1.5; LR = antialiased bicubic x4 (torch)",
                       "backends": {b: {k: (int(v) if k == "n_images" else float(v))
                                        for k, v in table.loc[b].items()} for b in table.index}})
            return
        t = Table(title=f"eval-sr on {dataset} (test split) — run {store.run_id}")
        t.add_column("backend")
        for col in table.columns:
            t.add_column(col, justify="right")
        for b, row in table.iterrows():
            t.add_row(b, *(f"{v:.0f}" if c == "n_images" else f"{v:.4f}" for c, v in row.items()))
        out_console.print(t)
        out_console.print("Y = BT.601 luma; crop border = scale; SSIM 11x11 Gaussian σ=1.5.")

    @app.command("cost")
    def cost(
        backend: BackendOpt = None,
        lr_size: Annotated[str, typer.Option("--lr-size", help="LR input WIDTHxHEIGHT.")] = "128x128",
        repeats: Annotated[int, typer.Option(help="Timed repeats for the latency median.")] = 5,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Params, MACs (two counters), the paper's GFLOPs convention and latency of backends.
        Reference-based backends get a Ref of 4x the LR size."""
        from bench.metrics.cost import cost_report
        from sr_backends import BACKENDS

        cfg = build_config(config, sets, profile, out)
        names = backend or ["edsr"]
        for name in names:
            BACKENDS.check(name)
        h, w = _size(lr_size, "--lr-size")
        device = resolve_device(cfg.device)
        reports = {n: cost_report(n, lr_size=(h, w), device=device, latency_repeats=repeats)
                   for n in names}
        if as_json:
            emit_json(reports if len(names) > 1 else reports[names[0]])
            return
        t = Table(title=f"cost at LR {lr_size} ({device})")
        for col in ("backend", "params (M)", "GMACs", "paper GFLOPs", "latency ms"):
            t.add_column(col, justify="right")
        for n, r in reports.items():
            pg = r.get("paper_gflops")
            t.add_row(n, f"{r['params'] / 1e6:.3f}", f"{r['macs'] / 1e9:.2f}",
                      "-" if pg is None else f"{pg:.2f}", f"{r['latency_ms']:.1f}")
        out_console.print(t)
        for n, r in reports.items():
            if r.get("note"):
                log(f"{n}: {r['note']}")
