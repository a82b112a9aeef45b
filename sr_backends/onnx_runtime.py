"""`onnx:FILE`: a file written by `bench export`, run through ONNX Runtime.

The registry entry is parametrised ("onnx:FILE", bench/registry.py): `spec_for(FILE)` reads the
file's metadata (FORMAT, see bench/export.py) and returns a "file"-kind BackendSpec whose
needs_reference / scale come from it; `OnnxBackend` runs the graph. Ref↓ (an input of exported
reference models) is computed here in PyTorch by the model package's own function named in
the file, exactly as the PyTorch model computes it. LR height and width must be multiples of
the file's `lr_multiple` (the graph does not pad).

Fingerprint: sha256 of the file's bytes plus what changes the outputs at run time (execution
provider, graph optimisation level, onnxruntime version).
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from sr_backends.base import BackendSpec, SRBackend
from sr_backends.weights import sha256_file

FORMAT = "sewer-sr-bench/onnx-1"
OPTIMIZATION = "all"  # ORT_ENABLE_ALL


def ort_session(model: bytes | str, threads: int = 2, device: str = "cpu",
                optimization: str = OPTIMIZATION, extra: dict[str, Any] | None = None,
                config: dict[str, str] | None = None):
    """An ONNX Runtime session: the CUDA provider on a CUDA device when present, else CPU;
    `threads` intra-op threads; `extra` session-option attributes and `config` session config
    entries (benchmarks/deploy_latency.py compares them)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3  # errors only: its optimiser's notes are not the user's business
    so.inter_op_num_threads = 1
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[optimization]
    for k, v in (extra or {}).items():
        setattr(so, k, v)
    for k, v in (config or {}).items():
        so.add_session_config_entry(k, v)
    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(model, so, providers=providers)


@functools.lru_cache(maxsize=32)
def _metadata(path: str, mtime_ns: int, size: int) -> dict[str, str]:
    import onnx

    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise BenchError(f"{path}: not an ONNX model ({type(e).__name__})") from None
    meta = {m.key: m.value for m in proto.metadata_props}
    if meta.get("format") != FORMAT:
        raise BenchError(f"{path}: ONNX model without {FORMAT!r} metadata; export it with "
                         "`bench export --backend NAME --format onnx --out FILE`")
    _check_metadata(path, meta)
    return meta


GRAPH_INPUTS = ("lr", "ref", "ref_down", "depth_lr", "depth_ref_down")


def _check_metadata(path: str, meta: dict[str, str]) -> None:
    """Every field the runner reads, typed and consistent; one line naming the first bad one."""
    def field(key: str, kind: type, default: str | None = None):
        raw = meta.get(key, default)
        if raw is None:
            raise BenchError(f"{path}: metadata field {key!r} missing (re-export the model "
                             "with `bench export`)")
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            value = None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BenchError(f"{path}: metadata field {key}={raw!r}: expected "
                             f"{'true or false' if kind is bool else kind.__name__}")
        return value

    for key in ("scale", "lr_multiple"):
        if field(key, int, "1") < 1:
            raise BenchError(f"{path}: metadata field {key}={meta.get(key)!r}: expected a "
                             "positive integer")
    field("needs_depth", bool)
    field("hparams", dict, "{}")
    inputs = field("inputs", list)
    if "lr" not in inputs or not set(inputs) <= set(GRAPH_INPUTS) or len(set(inputs)) != len(inputs):
        raise BenchError(f"{path}: metadata field inputs={meta['inputs']!r}: expected \"lr\" "
                         f"and only these names, once each: {', '.join(GRAPH_INPUTS)}")
    if field("needs_reference", bool) != ("ref" in inputs):
        raise BenchError(f"{path}: metadata needs_reference={meta['needs_reference']} "
                         f"disagrees with inputs {inputs}")


def check_sr_output(name: str, lr: torch.Tensor, sr: torch.Tensor, scale: int) -> None:
    """An SR output the benchmark may score: (B, 3, scale*h, scale*w), every value finite.
    Checked before anything is cached or scored, so a broken model changes nothing."""
    b, _, h, w = lr.shape
    want = (b, 3, scale * h, scale * w)
    if tuple(sr.shape) != want:
        raise BenchError(f"backend {name!r}: output shape {tuple(sr.shape)} for LR "
                         f"{h}x{w} (HxW), expected {want} (x{scale}, 3 channels)")
    bad = int((~torch.isfinite(sr)).sum())
    if bad:
        raise BenchError(f"backend {name!r}: output has {bad} non-finite value(s) (NaN/inf) "
                         f"of {sr.numel()} for LR {h}x{w}; refused before scoring")


def read_metadata(path: Path | str) -> dict[str, str]:
    """The FORMAT metadata of an exported file; a one-line BenchError for anything else."""
    p = Path(path)
    if not p.is_file():
        raise BenchError(f"{p}: ONNX file not found")
    st = p.stat()
    return dict(_metadata(str(p.resolve()), st.st_mtime_ns, st.st_size))


class OnnxBackend(SRBackend):
    def __init__(self, path: Path | str, device: str = "cpu", expected_scale: int = 4,
                 threads: int | None = None, optimization: str = OPTIMIZATION) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.meta = read_metadata(self.path)
        self.name = f"onnx:{path}"
        self.scale = int(self.meta["scale"])
        if self.scale != expected_scale:
            raise BenchError(f"{self.path}: exported model is x{self.scale}, the benchmark "
                             f"needs x{expected_scale}")
        self.needs_reference = json.loads(self.meta["needs_reference"])
        self.needs_depth = json.loads(self.meta["needs_depth"])
        self.inputs: list[str] = json.loads(self.meta["inputs"])
        self.lr_multiple = int(self.meta.get("lr_multiple", "1"))
        self._ref_down = None
        if self.meta.get("ref_down"):
            if not self.meta["ref_down"].startswith("sr_backends."):
                raise BenchError(f"{self.path}: ref_down function {self.meta['ref_down']!r} is "
                                 "not a model package's (sr_backends.*)")
            from bench.registry import load_target

            try:
                self._ref_down = load_target(self.meta["ref_down"])
            except (ImportError, AttributeError, ValueError) as e:
                raise BenchError(f"{self.path}: ref_down function {self.meta['ref_down']!r} "
                                 f"cannot be loaded ({type(e).__name__}: {e})") from None
        try:
            self.session = ort_session(str(self.path), threads or torch.get_num_threads(),
                                       str(device), optimization)
        except Exception as e:  # an invalid graph: onnxruntime's own error types
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            raise BenchError(f"{self.path}: ONNX Runtime cannot load it ({first[:300]})") from None
        self.provider = self.session.get_providers()[0]
        self._ident = {"arch": "onnx", "file_sha256": sha256_file(self.path),
                       "scale": self.scale, "provider": self.provider,
                       "optimization": optimization,
                       "onnxruntime": ".".join(ort.__version__.split(".")[:2])}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self._ident, sort_keys=True).encode()).hexdigest()

    def feeds(self, lr: torch.Tensor, ref: torch.Tensor | None = None,
              depth: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, Any]:
        """The graph's named inputs (numpy, fp32) for one call; Ref↓ computed here."""
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise BenchError(f"LR must be a (B,3,H,W) tensor, got shape {tuple(lr.shape)}")
        h, w = lr.shape[-2:]
        m = self.lr_multiple
        if h % m or w % m:
            raise BenchError(f"{self.path}: LR {h}x{w} (HxW) is not a multiple of {m}; the "
                             f"exported graph takes LR sizes in multiples of {m}")
        t: dict[str, torch.Tensor] = {"lr": lr}
        if self.needs_reference:
            if ref is None:
                raise BenchError(f"backend {self.name!r} is reference-based and needs a Ref "
                                 "image (set the reference policy, e.g. 'self')")
            if tuple(ref.shape[-2:]) != (self.scale * h, self.scale * w):
                raise BenchError(f"{self.path}: Ref must be {self.scale}x the LR size "
                                 f"({self.scale * h}x{self.scale * w}), got "
                                 f"{ref.shape[-2]}x{ref.shape[-1]}")
            t["ref"] = ref
            if self._ref_down is not None:
                t["ref_down"] = self._ref_down(ref.float())
        if self.needs_depth:
            if depth is None:
                raise BenchError(f"backend {self.name!r} takes ground-truth depth: pass "
                                 "depth=(depth_lr, depth_ref_down)")
            t["depth_lr"], t["depth_ref_down"] = depth
        return {k: t[k].detach().to("cpu", torch.float32).contiguous().numpy()
                for k in self.inputs}

    def run(self, feeds: dict[str, Any]) -> torch.Tensor:
        try:
            return torch.from_numpy(self.session.run(None, feeds)[0])
        except Exception as e:  # onnxruntime's own error types: one line naming the file
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            raise BenchError(f"{self.path}: ONNX Runtime failed ({first[:300]})") from None

    def upscale(self, lr: torch.Tensor, ref: torch.Tensor | None = None,
                depth: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        with torch.inference_mode():
            out = self.run(self.feeds(lr, ref, depth))
            check_sr_output(self.name, lr, out, self.scale)
            return out.clamp_(0.0, 1.0).to(lr.device)


def spec_for(path: str) -> BackendSpec:
    """The registry entry of "onnx:PATH" (what the file's metadata says)."""
    meta = read_metadata(path)
    return BackendSpec(arch="onnx", build=OnnxBackend, kind="file",
                       needs_reference=json.loads(meta["needs_reference"]),
                       scale=int(meta["scale"]),
                       source={"backend": meta["backend"],
                               "hparams": json.loads(meta["hparams"])})
