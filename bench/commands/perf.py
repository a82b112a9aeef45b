"""`bench perf backend` (any learned backend against the dense-conv ceiling) and
`bench perf matching` (the DSRNet matching stage across sizes)."""
from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from bench.commands.common import JsonOpt, emit_json, out_console
from bench.errors import BenchError
from bench.sizes import parse_size


def _hparam_overrides(text: str | None, name: str) -> dict[str, Any]:
    """`--hparams "{key: value}"` (YAML/JSON mapping) -> dict, keys checked against the spec."""
    if not text:
        return {}
    import yaml

    from bench.perf import learned_spec
    from bench.registry import did_you_mean

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BenchError(f"--hparams {text!r}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise BenchError(f"--hparams {text!r}: expected a mapping, e.g. \"{{key: value}}\"")
    spec = learned_spec(name)
    known = spec.hparam_names() if hasattr(spec, "hparam_names") else set(spec.hparams)
    for key in data:
        if key not in known:
            raise BenchError(f"--hparams: backend {name!r} has no hyper-parameter {key!r}."
                             f"{did_you_mean(str(key), known)}")
    return data


def register(perf_app: typer.Typer) -> None:
    @perf_app.command("matching")
    def perf_matching(
        repeats: Annotated[int, typer.Option(help="Timed repeats per size (median).")] = 3,
        threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
        as_json: JsonOpt = False,
    ) -> None:
        """DSRNet matching time at LR 112x80, 224x160, 448x320 (Ref 4x) and its growth per 4x
        area (linear in area = 4.0x; the authors' grows 5.2-5.3x, MASA-SR 7.8x).

        This command is about one model's stage by design: the stage to time and its inputs
        come from the model package (`perf_probe` in the DSRNet matching module); the timing
        itself is the generic `bench.perf.probe_perf`."""
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
        backend: Annotated[str, typer.Option("--backend", "-b", help="Any learned backend (`bench ls backends`).")],
        lr_size: Annotated[str, typer.Option("--lr-size", help="LR WIDTHxHEIGHT (a reference-based backend gets a Ref `scale`x larger).")] = "112x80",
        hparams: Annotated[Optional[str], typer.Option("--hparams", help="Hyper-parameter overrides as a YAML mapping, e.g. \"{depth_source: gt}\".")] = None,
        repeats: Annotated[int, typer.Option(help="Timed repeats (median).")] = 5,
        threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
        memory: Annotated[bool, typer.Option(help="Also measure peak memory in a subprocess.")] = True,
        as_json: JsonOpt = False,
    ) -> None:
        """Forward latency, peak memory and achieved GMAC/s of a learned backend (random
        weights) as a ratio to a dense 3x3 convolution measured in the same run."""
        from sr_backends import BACKENDS

        BACKENDS.check(backend)
        size = parse_size(lr_size, "--lr-size")
        from bench.perf import backend_perf, learned_spec

        learned_spec(backend)  # a one-line error for fixed / file backends
        overrides = _hparam_overrides(hparams, backend)
        result = backend_perf(backend, lr_size=size, repeats=repeats, threads=threads,
                              memory=memory, rows={"forward": overrides})
        if as_json:
            emit_json(result)
        else:
            out_console.print_json(data=result)
