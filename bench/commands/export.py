"""`bench export`: a learned backend (its weights resolved exactly as `bench eval-sr` does:
the cache for this profile/config, trained first when missing, or `--set sr.weights.NAME=FILE`)
-> an ONNX file that `--backend onnx:FILE` runs through ONNX Runtime (bench/export.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.commands.common import (
    ConfigOpt,
    JsonOpt,
    ProfileOpt,
    SetOpt,
    build_config,
    emit_json,
    log,
    out_console,
    show_progress,
)
from bench.errors import BenchError

FORMATS = ("onnx",)


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        backend: Annotated[str, typer.Option("--backend", "-b", metavar="NAME", help="Learned backend to export (`bench ls backends`).")],
        out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="Where to write the exported model.")],
        fmt: Annotated[str, typer.Option("--format", "-f", metavar="onnx", help="Export format (onnx).")] = "onnx",
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Export a learned SR backend to ONNX (dynamic LR height/width in multiples of 16,
        opset 18, no antialiased resize inside: a reference model's Ref↓ becomes an input).
        Run it with `--backend onnx:FILE` in eval-sr, run and perf."""
        from bench.registry import did_you_mean

        if fmt not in FORMATS:
            raise BenchError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}."
                             f"{did_you_mean(fmt, FORMATS)}")
        from bench.export import check_writable

        check_writable(out)
        from bench.backends import resolve_backends
        from bench.cache import Cache, cache_root
        from bench.export import export_backend, probe_exportable
        from bench.training.harness import ensure_weights

        cfg = build_config(config, sets, profile, None)
        (resolved,) = resolve_backends([backend], cfg)
        if not resolved.spec.exportable:
            raise BenchError(f"backend {backend!r} does not export: only learned backends "
                             "(a PyTorch model with weights) export")
        cache = Cache(cache_root(cfg.cache_dir))
        # weights are trained on the configured device; the export itself runs on the CPU
        from bench.commands.common import resolve_device

        if not resolved.has_weights(cache):  # refuse an unexportable model before training it
            rnd = resolved.spec.create(backend, hparams=resolved.hparams, allow_random=True)
            probe_exportable(backend, rnd.model, rnd.needs_reference, rnd.needs_depth, rnd.scale)
        ensure_weights([resolved], cfg, cache, resolve_device(cfg.device),
                       progress=show_progress(not as_json))
        log(f"exporting {backend} to {out} (torch.export + onnxscript; about a minute)")
        meta = export_backend(resolved.create(cache, "cpu", cfg), out)
        if as_json:
            emit_json({"file": str(out), **meta})
            return
        out_console.print(f"exported {backend} -> {out}\ninputs: {meta['inputs']}; ORT vs "
                          f"PyTorch max abs: {meta['verified_max_abs']}\nuse it: bench eval-sr "
                          f"--backend onnx:{out}")
