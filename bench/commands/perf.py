"""`bench cost` (params, MACs, paper GFLOPs, latency; rows into the store), `bench perf
backend` (any learned backend against the dense-conv ceiling) and `bench perf matching` (the
DSRNet matching stage across sizes).

Option grammar: `bench cost` takes `--config/--set/--profile/--out/--json` (the config gives
the device, threads and default backends; `--out` is the store). The `perf` commands measure
fixed forwards with random weights and write nothing: they take `--json`, and
`--config/--set/--profile/--out` give a one-line error saying so (exit 2).
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config,
                                   emit_json, log, out_console, resolve_device)
from bench.errors import BenchError
from bench.metrics import names_in
from bench.sizes import parse_size

LATENCY_METRICS = names_in("latency")  # from the metric catalogue
STATIC_METRICS = names_in("cost")

# Hidden on the perf commands: accepted only to answer with a clear error.
_Unused = Annotated[Optional[str], typer.Option(hidden=True)]


def _reject_unused(command: str, **given: Any) -> None:
    used = [f"--{k}" for k, v in given.items() if v]
    if used:
        raise BenchError(f"bench {command} does not take {', '.join(used)}: it times a fixed "
                         f"forward with random weights and writes nothing (use --threads, "
                         f"--repeats, --json; `bench cost` stores cost rows)")


def _command_line() -> str:
    return "bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _cost(resolved: Any, hw: tuple[int, int], device: str, repeats: int | None) -> dict:
    """Generic cost report, plus the spec's own accounting when it declares a
    `cost_breakdown` hook ("module:attr", called as (name, spec, lr_size, ref_size,
    hparams=the resolved overrides) -> dict; its keys override the generic ones, its
    "explanation" becomes the report's note, and its "latency_note" is kept only when latency
    was measured)."""
    from bench.cost import cost_report
    from bench.registry import load_target

    name, spec = resolved.name, resolved.spec
    report = cost_report(resolved, lr_size=hw, device=device, latency_repeats=repeats)
    hook = getattr(spec, "cost_breakdown", "")
    if hook:
        scale = getattr(spec, "scale", 4)
        extra = load_target(hook)(name, spec, hw, (scale * hw[0], scale * hw[1]),
                                  hparams=dict(getattr(resolved, "hparams", None) or {}))
        report.update(extra)
        report["note"] = extra.get("explanation", "")
        if repeats == 0:
            report.pop("latency_note", None)
    return report


def store_costs(out: str | Path, config: dict, reports: dict, lr_size: str, device: str,
                threads: int, precision: str = "fp32") -> Path:
    """Cost rows (task "cost") into the store, one run folder per measurement protocol (LR
    size, device, threads, precision: the manifest records them for the leaderboard's
    selection). A new measurement replaces a backend's rows, except that a run which did not
    time the forward (`--repeats 0`) keeps the latency measured before."""
    import pandas as pd

    from bench.cache import key_of
    from bench.store import ResultStore, Row, cell_id

    store = ResultStore(Path(out) / f"cost-{key_of(lr_size, device, threads, precision)[:10]}")
    if not (store.run_dir / "manifest.json").exists():
        store.write_manifest(config, device=device, command=_command_line(),
                             extra={"task": "cost", "lr_size": lr_size, "device": device,
                                    "threads": threads, "precision": precision})
    for name, r in reports.items():
        values = {k: r.get(k) for k in STATIC_METRICS + LATENCY_METRICS}
        cell = cell_id("cost", name, lr_size)
        path = store.rows_dir / f"{cell}.csv"
        if r.get("latency_ms") is None and path.exists():  # never erase a measured latency
            old = pd.read_csv(path, keep_default_na=False)
            for row in old[old["metric"].isin(LATENCY_METRICS)].itertuples():
                values[row.metric] = float(row.value)
        rows = [Row(store.run_id, f"lr{lr_size}", "cost", name, "-", "all", k, float(v),
                    higher_is_better=False) for k, v in values.items() if v is not None]
        path.unlink(missing_ok=True)
        store.append(cell, rows)
    return store.run_dir


def _cost_table(reports: dict, lr_size: str, device: str, threads: int) -> Table:
    t = Table(title=f"cost at LR {lr_size} — {device}, {threads} thread(s), fp32, batch 1; "
                    f"latency: median and IQR of warm repeats")
    t.add_column("backend")
    for col in ("params\nM", "GMACs", "paper\nGFLOPs", "latency\nms", "IQR\nms",
                "repeats\n(warm-up)"):
        t.add_column(col, justify="right")
    for n, r in reports.items():
        pg, lat = r.get("paper_gflops"), r.get("latency_ms")
        iqr = "-" if lat is None else f"{r['latency_q1_ms']:.1f}–{r['latency_q3_ms']:.1f}"
        reps = "-" if lat is None else f"{r['latency_repeats']} ({r['latency_warmup']})"
        t.add_row(n, f"{r['params'] / 1e6:.3f}", f"{r['macs'] / 1e9:.2f}",
                  "-" if pg is None else f"{pg:.2f}", "-" if lat is None else f"{lat:.1f}",
                  iqr, reps)
    return t


def register(perf_app: typer.Typer, app: typer.Typer | None = None) -> None:
    if app is not None:
        _register_cost(app)
    _register_perf(perf_app)


def _register_cost(app: typer.Typer) -> None:
    @app.command("cost")
    def cost(
        backend: Annotated[Optional[list[str]], typer.Option("--backend", "-b", metavar="NAME", help="SR backend (repeatable; default: the config's sr.backends); `bench ls backends`.")] = None,
        lr_size: Annotated[str, typer.Option("--lr-size", metavar="WIDTHxHEIGHT", help="LR input size.")] = "128x128",
        repeats: Annotated[Optional[int], typer.Option(metavar="N", help="Timed repeats for the latency median; default: at least 5 and 5 s of timed work after a warm-up; 0 = no latency (a stored one is kept).")] = None,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Params, MACs (two counters), a reconstruction of the GFLOPs convention behind the
        paper's Table 2 (its rules are not stated) and latency (median,
        IQR; threads, device and precision stated) of backends; rows go into the store for
        `bench leaderboard`. Reference-based backends get a Ref of 4x the LR size."""
        import torch

        from bench.backends import resolve_backends

        cfg = build_config(config, sets, profile, out)
        names = backend or list(cfg.sr.backends)  # default: the configured backends
        resolved = resolve_backends(names, cfg, random_weights=True)
        if repeats is not None and repeats < 0:
            raise BenchError(f"--repeats {repeats}: expected 0 (no latency) or more")
        h, w = parse_size(lr_size, "--lr-size")
        device = resolve_device(cfg.device)
        threads = torch.get_num_threads()
        try:
            reports = {r.name: _cost(r, (h, w), device, repeats) for r in resolved}
        except (MemoryError, torch.OutOfMemoryError) as exc:
            raise BenchError(f"--lr-size {lr_size}: out of memory on {device} "
                             f"({str(exc).splitlines()[0][:160]}); try a smaller size") from None
        except RuntimeError as exc:  # the CPU allocator's failure is a plain RuntimeError
            if "allocate" not in str(exc):
                raise
            raise BenchError(f"--lr-size {lr_size}: out of memory on {device}; try a smaller "
                             "size") from None
        store_costs(cfg.out, cfg.model_dump(mode="json"), reports, lr_size, device, threads)
        if as_json:
            emit_json(reports if len(names) > 1 else reports[names[0]])
            return
        out_console.print(_cost_table(reports, lr_size, device, threads))
        for n, r in reports.items():
            if r.get("note"):
                log(f"{n}: {r['note']}")


def _hparam_overrides(text: str | None, name: str, spec: Any) -> dict[str, Any]:
    """`--hparams "{key: value}"` (YAML/JSON mapping) -> dict, keys checked against the spec."""
    if not text:
        return {}
    import yaml

    from bench.registry import did_you_mean

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BenchError(f"--hparams {text!r}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise BenchError(f"--hparams {text!r}: expected a mapping, e.g. \"{{key: value}}\"")
    known = spec.hparam_names() if hasattr(spec, "hparam_names") else set(spec.hparams)
    for key in data:
        if key not in known:
            raise BenchError(f"--hparams: backend {name!r} has no hyper-parameter {key!r}."
                             f"{did_you_mean(str(key), known)}")
    return data


def _register_perf(perf_app: typer.Typer) -> None:
    @perf_app.command("matching")
    def perf_matching(
        repeats: Annotated[int, typer.Option(metavar="N", help="Timed repeats per size (median).")] = 3,
        threads: Annotated[int, typer.Option(metavar="N", help="torch CPU threads.")] = 2,
        as_json: JsonOpt = False,
        config: _Unused = None, sets: Annotated[Optional[list[str]], typer.Option("--set", hidden=True)] = None,
        profile: _Unused = None, out: _Unused = None,
    ) -> None:
        """DSRNet matching time at LR 112x80, 224x160, 448x320 (Ref 4x) and its growth per 4x
        area (linear in area = 4.0x; the authors' grows 5.2-5.3x, MASA-SR 7.8x).

        This command is about one model's stage by design: the stage to time and its inputs
        come from the model package (`perf_probe` in the DSRNet matching module); the timing
        itself is the generic `bench.perf.probe_perf`."""
        _reject_unused("perf matching", config=config, set=sets, profile=profile, out=out)
        from bench.perf import probe_perf
        from sr_backends.dsrnet.matching import perf_probe  # the command's subject (see help)

        rows = probe_perf(perf_probe, repeats=repeats, threads=threads)
        if as_json:
            emit_json({"matching": rows})
            return
        t = Table(title=f"DSRNet matching (CPU, {threads} threads, fp32)")
        for col in rows[-1]:
            t.add_column(str(col), justify="right")
        for r in rows:
            t.add_row(*(f"{r[c]:.4g}" if isinstance(r.get(c), float) else str(r.get(c, "-"))
                        for c in rows[-1]))
        out_console.print(t)

    @perf_app.command("backend")
    def perf_backend(
        backend: Annotated[list[str], typer.Option("--backend", "-b", metavar="NAME", help="A learned backend or an exported model onnx:FILE (repeatable: timed one after another in this run).")],
        lr_size: Annotated[str, typer.Option("--lr-size", metavar="WIDTHxHEIGHT", help="LR size (a reference-based backend gets a Ref `scale`x larger).")] = "112x80",
        hparams: Annotated[Optional[str], typer.Option("--hparams", metavar="YAML", help="Hyper-parameter overrides of the learned backends as a YAML mapping, e.g. \"{depth_source: gt}\" (an onnx:FILE model is fixed by its file).")] = None,
        repeats: Annotated[int, typer.Option(metavar="N", help="Timed repeats (median).")] = 5,
        threads: Annotated[int, typer.Option(metavar="N", help="torch (and ONNX Runtime intra-op) CPU threads.")] = 2,
        memory: Annotated[bool, typer.Option(help="Also measure peak memory in a subprocess.")] = True,
        as_json: JsonOpt = False,
        config: _Unused = None, sets: Annotated[Optional[list[str]], typer.Option("--set", hidden=True)] = None,
        profile: _Unused = None, out: _Unused = None,
    ) -> None:
        """Forward latency, peak memory and achieved GMAC/s of learned backends (random
        weights) as a ratio to a dense 3x3 convolution measured in the same run; an exported
        model (`onnx:FILE`) is timed through ONNX Runtime (Ref↓ prepared in torch included)."""
        from bench.backends import resolve_backends
        from bench.config import BenchConfig

        _reject_unused("perf backend", config=config, set=sets, profile=profile, out=out)
        # random weights: the defaults suffice (no weights resolved, nothing trained)
        resolved = resolve_backends(list(dict.fromkeys(backend)), BenchConfig(),
                                    random_weights=True)
        size = parse_size(lr_size, "--lr-size")
        from bench.perf import backend_perf, timeable_spec

        # one line for fixed backends
        specs = {r.name: timeable_spec(r.name, r.spec) for r in resolved}
        results = {}
        for name, spec in specs.items():
            overrides = _hparam_overrides(hparams, name, spec) if spec.trainable else {}
            results[name] = backend_perf(name, lr_size=size, repeats=repeats, threads=threads,
                                         memory=memory, spec=spec,
                                         rows={"forward": overrides} if spec.trainable else None)
        if len(backend) == 1:
            result = results[backend[0]]
            emit_json(result) if as_json else out_console.print_json(data=result)
            return
        if as_json:
            emit_json({"lr_size": list(size), "threads": threads, "backends": results})
            return
        t = Table(title=f"perf backend at LR {lr_size}, CPU, {threads} threads, fp32")
        for col in ("backend", "model", "params M", "latency s", "p90 s", "x first", "peak GB"):
            t.add_column(col, justify="right")
        first = results[backend[0]].get("forward", {}).get("latency_s")
        for name, r in results.items():
            f, m = r.get("forward", {}), r["model"]
            lat, peak = f.get("latency_s"), (r.get("peak_memory") or {}).get("peak_gb")
            params = None if m["params"] is None else m["params"] / 1e6
            t.add_row(name, m["from"] if m["from"] != name else "", *(
                "-" if v is None else f"{v:.3f}" for v in
                (params, lat, f.get("latency_p90_s"), lat / first if lat and first else None,
                 peak)))
        out_console.print(t)
        # Rows of one architecture at different sizes (e.g. an ONNX file exported at tiny
        # hyper-parameters next to the full model) must not read as a speed comparison.
        by_source: dict[str, dict[str, dict]] = {}
        for name, r in results.items():
            by_source.setdefault(str(r["model"]["from"]), {})[name] = r["model"]["hparams"]
        for source, hps in by_source.items():
            if len({json.dumps(h, sort_keys=True) for h in hps.values()}) > 1:
                keys = sorted({k for h in hps.values() for k in h
                               if len({json.dumps(x.get(k)) for x in hps.values()}) > 1})
                out_console.print(f"note: the {source} rows differ in hyper-parameters "
                                  f"({', '.join(keys)}): " + "; ".join(
                                      f"{n}: " + ", ".join(f"{k}={h.get(k)}" for k in keys)
                                      for n, h in hps.items()))
