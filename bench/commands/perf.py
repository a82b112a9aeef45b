"""`bench perf matching` and `bench perf backend`: DSRNet speed against the dense-conv ceiling."""
from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bench.commands.common import JsonOpt, emit_json, out_console
from bench.commands.sr import _size
from bench.errors import BenchError


def register(perf_app: typer.Typer) -> None:
    @perf_app.command("matching")
    def perf_matching(
        repeats: Annotated[int, typer.Option(help="Timed repeats per size (median).")] = 3,
        threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
        as_json: JsonOpt = False,
    ) -> None:
        """DSRNet matching time at LR 112x80, 224x160, 448x320 (Ref 4x) and its growth per 4x
        area (linear in area = 4.0x; the authors' grows 5.2-5.3x, MASA-SR 7.8x)."""
        from sr_backends.dsrnet.perf import matching_perf

        rows = matching_perf(repeats=repeats, threads=threads)
        if as_json:
            emit_json({"matching": rows})
            return
        t = Table(title=f"DSRNet matching (CPU, {threads} threads, fp32)")
        for col in rows[0]:
            t.add_column(str(col), justify="right")
        for r in rows:
            t.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()))
        out_console.print(t)

    @perf_app.command("backend")
    def perf_backend(
        backend: Annotated[str, typer.Option("--backend", "-b", help="dsrnet, dsrnet-s, ...")] = "dsrnet",
        lr_size: Annotated[str, typer.Option("--lr-size", help="LR WIDTHxHEIGHT (Ref is 4x).")] = "112x80",
        repeats: Annotated[int, typer.Option(help="Timed repeats (median).")] = 5,
        threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
        memory: Annotated[bool, typer.Option(help="Also measure peak memory in a subprocess.")] = True,
        as_json: JsonOpt = False,
    ) -> None:
        """Forward latency, peak memory and achieved GMAC/s as a ratio to a dense 3x3
        convolution measured in the same run."""
        from sr_backends import BACKENDS

        BACKENDS.check(backend)
        if not backend.startswith("dsrnet"):
            raise BenchError(f"bench perf backend measures DSRNet variants; for {backend!r} use "
                             f"`bench cost --backend {backend}` or benchmarks/bench_backends.py")
        from sr_backends.dsrnet.perf import backend_perf

        result = backend_perf(backend, lr_size=_size(lr_size, "--lr-size"), repeats=repeats,
                              threads=threads, memory=memory)
        if as_json:
            emit_json(result)
        else:
            out_console.print_json(data=result)
