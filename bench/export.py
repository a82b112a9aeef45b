"""Export a learned SR backend to ONNX (`bench export`), for ONNX Runtime (`onnx:FILE`).

Exporter: `torch.onnx.export(dynamo=True)` (torch.export + onnxscript; the default since torch
2.9), opset 18, with the LR height/width dynamic as multiples of `LR_MULTIPLE` (16: DSRNet's
block size; one rule for every backend keeps the file's contract simple). The legacy
TorchScript exporter traces Python loops at the example's size, so its graphs are not
size-generic for DSRNet (its block loop and chunking).

Graph inputs, by name: "lr" (1,3,h,w); reference-based models add "ref" (1,3,4h,4w) and, when
the model computes Ref↓ itself with an antialiased resize, "ref_down" (1,3,h,w): antialiased
bicubic does not export faithfully (opset 18 only, several exporter/runtime bugs), so Ref↓ is
computed outside the graph by the model's own `downsample_reference`, whose "module:attr" is
recorded in the file; depth-taking models add "depth_lr" and "depth_ref_down" (1,1,h,w).
Output "sr": the model's raw output (callers clamp to [0, 1], as LearnedBackend does).

The file's metadata_props (FORMAT) say what it came from: backend, weights sha256,
hyper-parameters, scale, needs_reference / needs_depth, the inputs, the Ref↓ function, and the
max-abs difference ORT vs PyTorch measured at export on two LR sizes.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from bench import atomic
from bench.errors import BenchError
from sr_backends.onnx_runtime import FORMAT, ort_session

LR_MULTIPLE = 16
OPSET = 18
# Example LR sizes (h, w) in blocks of LR_MULTIPLE: the export traces the first, the
# verification runs both. Different h and w so the exporter does not tie the two dims.
EXAMPLE_BLOCKS = ((2, 3), (3, 2))
MAX_BLOCKS = 256  # 4096 LR px per side


class _Graph(torch.nn.Module):
    """Positional graph inputs -> the model's call (see module doc for the names)."""

    def __init__(self, model: torch.nn.Module, inputs: list[str]):
        super().__init__()
        self.model, self.inputs = model, inputs

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        given = dict(zip(self.inputs, args))
        if "ref" not in given:
            return self.model(given["lr"])
        extra = {"ref_down": given["ref_down"]} if "ref_down" in given else {}
        depth = (given["depth_lr"], given["depth_ref_down"]) if "depth_lr" in given else ()
        return self.model(given["lr"], given["ref"], *depth, **extra)


def graph_inputs(model: torch.nn.Module, needs_reference: bool, needs_depth: bool) -> list[str]:
    names = ["lr"]
    if needs_reference:
        names.append("ref")
        if ref_down_function(model):
            names.append("ref_down")
        if needs_depth:
            names += ["depth_lr", "depth_ref_down"]
    return names


def ref_down_function(model: torch.nn.Module) -> str:
    """"module:attr" of the model's Ref↓ function, "" when it takes no Ref↓ input."""
    fn = getattr(model, "downsample_reference", None)
    return f"{fn.__module__}:{fn.__qualname__}" if fn is not None else ""


def example_inputs(inputs: list[str], lr_hw: tuple[int, int], scale: int, ref_down_fn: str,
                   seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the graph's names at LR `lr_hw` (depth 1-10 m), fixed seed."""
    from bench.registry import load_target

    g = torch.Generator().manual_seed(seed)
    h, w = lr_hw
    t: dict[str, torch.Tensor] = {"lr": torch.rand(1, 3, h, w, generator=g)}
    if "ref" in inputs:
        t["ref"] = torch.rand(1, 3, scale * h, scale * w, generator=g)
    if "ref_down" in inputs:
        t["ref_down"] = load_target(ref_down_fn)(t["ref"])
    for k in ("depth_lr", "depth_ref_down"):
        if k in inputs:
            t[k] = 1 + 9 * torch.rand(1, 1, h, w, generator=g)
    return tuple(t[k] for k in inputs)


def _dynamic_shapes(inputs: list[str], scale: int) -> tuple[dict[int, Any], ...]:
    from torch.export import Dim

    kh, kw = Dim("lr_blocks_h", min=2, max=MAX_BLOCKS), Dim("lr_blocks_w", min=2, max=MAX_BLOCKS)
    h, w = LR_MULTIPLE * kh, LR_MULTIPLE * kw
    per = {"lr": {2: h, 3: w}, "ref": {2: scale * h, 3: scale * w}, "ref_down": {2: h, 3: w},
           "depth_lr": {2: h, 3: w}, "depth_ref_down": {2: h, 3: w}}
    return tuple(per[k] for k in inputs)


def to_onnx_bytes(model: torch.nn.Module, inputs: list[str], scale: int, ref_down_fn: str,
                  optimize: bool = True) -> bytes:
    """The dynamo export of `model` with dynamic LR size; raises BenchError naming the
    first line of what failed."""
    import logging
    import warnings

    wrapper = _Graph(model, inputs).eval()
    hw = tuple(LR_MULTIPLE * b for b in EXAMPLE_BLOCKS[0])
    args = example_inputs(inputs, hw, scale, ref_down_fn)  # type: ignore[arg-type]
    logging.getLogger("onnxscript").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                wrapper, args, dynamic_shapes=(_dynamic_shapes(inputs, scale),), dynamo=True,
                opset_version=OPSET, input_names=inputs, output_names=["sr"],
                optimize=optimize, verbose=False)
        except Exception as e:  # the exporter raises many types: name the root cause
            while e.__cause__ is not None:
                e = e.__cause__  # type: ignore[assignment]
            first = next((ln for ln in str(e).splitlines() if ln.strip()), "")
            raise BenchError(f"ONNX export failed ({type(e).__name__}: {first[:300]})") from None
        path = Path(tmp) / "model.onnx"
        program.save(str(path))
        return path.read_bytes()


def verify(model: torch.nn.Module, session, inputs: list[str], scale: int, ref_down_fn: str,
           sizes=EXAMPLE_BLOCKS) -> dict[str, float]:
    """Max abs difference ORT vs PyTorch per LR size "HxW" (random inputs)."""
    out = {}
    for blocks in sizes:
        hw = (LR_MULTIPLE * blocks[0], LR_MULTIPLE * blocks[1])
        args = example_inputs(inputs, hw, scale, ref_down_fn, seed=1)
        with torch.inference_mode():
            want = _Graph(model, inputs)(*args)
        got = session.run(None, {k: a.numpy() for k, a in zip(inputs, args)})[0]
        out[f"{hw[0]}x{hw[1]}"] = float((torch.from_numpy(got) - want).abs().max())
    return out


def check_writable(out: Path) -> None:
    """Refuse an --out the export could not write, before any training or export work: a
    folder, a missing parent, or a parent this process cannot create files in (tried for
    real: permission bits do not bind root, a read-only mount does)."""
    out = Path(out)
    if out.is_dir() or not out.parent.is_dir():
        raise BenchError(f"--out {out}: expected a file path in an existing folder")
    try:
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".probe-", delete=True):
            pass
    except OSError as exc:
        raise BenchError(f"--out {out}: cannot write in {out.parent} "
                         f"({exc.strerror or exc})") from None


def probe_exportable(name: str, model: torch.nn.Module, needs_reference: bool,
                     needs_depth: bool, scale: int) -> None:
    """Export `model` (random weights: the graph does not depend on their values) and throw
    the result away, so an architecture the exporter cannot handle (e.g. ATD's stable sort)
    is refused before its weights are trained."""
    model = model.to("cpu").eval()
    inputs = graph_inputs(model, needs_reference, needs_depth)
    rd_fn = ref_down_function(model) if "ref_down" in inputs else ""
    try:
        to_onnx_bytes(model, inputs, scale, rd_fn, optimize=False)
    except BenchError as exc:
        raise BenchError(f"backend {name!r} cannot be exported (checked before training its "
                         f"weights): {exc}") from None


def export_backend(backend: Any, out: Path | str, *, optimize: bool = True) -> dict[str, Any]:
    """Export a ready LearnedBackend (its weights loaded) to `out` (written atomically);
    returns the metadata written into the file."""
    import onnx

    model = getattr(backend, "model", None)
    if not isinstance(model, torch.nn.Module) or not hasattr(backend, "spec"):
        raise BenchError(f"backend {backend.name!r} has no PyTorch model to export "
                         "(only learned backends export)")
    model = model.to("cpu").eval()
    inputs = graph_inputs(model, backend.needs_reference, backend.needs_depth)
    rd_fn = ref_down_function(model) if "ref_down" in inputs else ""
    blob = to_onnx_bytes(model, inputs, backend.scale, rd_fn, optimize=optimize)
    check = verify(model, ort_session(blob), inputs, backend.scale, rd_fn)
    proto = onnx.load_from_string(blob)
    for node in proto.graph.node:  # the contract: LR synthesis stays outside the model
        if node.op_type == "Resize" and any(a.name == "antialias" and a.i for a in node.attribute):
            raise BenchError(f"backend {backend.name!r}: the exported graph contains an "
                             "antialiased Resize (compute it outside, as Ref↓ is)")
    meta = {"format": FORMAT, "backend": backend.name, "arch": backend.spec.arch,
            "weights_sha256": getattr(backend, "_weights_id", ""),
            "source_fingerprint": backend.fingerprint(),
            "hparams": json.dumps(backend.hparams, sort_keys=True), "scale": str(backend.scale),
            "needs_reference": json.dumps(bool(backend.needs_reference)),
            "needs_depth": json.dumps(bool(backend.needs_depth)),
            "inputs": json.dumps(inputs), "ref_down": rd_fn, "lr_multiple": str(LR_MULTIPLE),
            "exporter": f"torch {torch.__version__} dynamo=True opset {OPSET}"
                        f"{' +optimize' if optimize else ''}",
            "verified_max_abs": json.dumps(check)}
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    try:
        atomic.write_bytes(out, proto.SerializeToString(), fsync=True)
    except OSError as exc:
        raise BenchError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    return meta
