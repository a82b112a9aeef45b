"""Weights files: `<stem>.safetensors` (tensors) + `<stem>.json` (a human-readable sidecar).

The sidecar holds the architecture name, hyper-parameters, training config, data
fingerprint and anything else the trainer passes in `meta`, plus the sha256 of the tensor file
(so a fingerprint never has to re-hash large files, and a swapped tensor file is detected).
The same metadata is embedded in the safetensors header, so the tensor file alone is still
self-describing if the sidecar gets lost.

Both files are written atomically and fsync-ed (`bench.atomic`: a '.tmp-*' file in the same
folder + os.replace): an interrupted training run never leaves a half-written checkpoint that a
later run would trust.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from bench import atomic
from bench.errors import BenchError

FORMAT = "sewer-sr-bench/weights-1"
_META_KEY = "bench_meta"


def weights_stem(path: Path | str) -> Path:
    """`x`, `x.safetensors` and `x.json` all name the same weights."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".safetensors", ".json") else p


def tensor_file(path: Path | str) -> Path:
    return weights_stem(path).with_name(weights_stem(path).name + ".safetensors")


def sidecar_file(path: Path | str) -> Path:
    return weights_stem(path).with_name(weights_stem(path).name + ".json")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def jsonable(obj: Any) -> Any:
    """Tuples -> lists, Paths -> str, so the meta survives a JSON round trip unchanged."""
    return json.loads(json.dumps(obj, default=str))


def save_weights(model: torch.nn.Module | dict[str, torch.Tensor], path: Path | str,
                 meta: dict[str, Any]) -> Path:
    """Write `<stem>.safetensors` + `<stem>.json`; returns the tensor file's path.

    `meta` should carry at least "arch" and "hparams"; anything else (training config, data
    fingerprint, epoch, metrics) is stored verbatim.
    """
    from safetensors.torch import save

    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    # Clone: safetensors refuses tensors that share storage (tied or viewed parameters).
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    # The tensors' own checksum goes into the header, so a file whose sidecar got lost still
    # detects a flipped byte in its data (load_weights checks it).
    meta = {"format": FORMAT, **jsonable(meta), "tensors_sha256": tensors_digest(tensors)}
    blob = save(tensors, metadata={_META_KEY: json.dumps(meta, sort_keys=True)})
    tfile, sfile = tensor_file(path), sidecar_file(path)
    atomic.write_bytes(tfile, blob, fsync=True)
    sidecar = {**meta, "sha256": hashlib.sha256(blob).hexdigest(), "file": tfile.name}
    atomic.write_text(sfile, json.dumps(sidecar, indent=2, sort_keys=True) + "\n", fsync=True)
    return tfile


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of every tensor, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(tensors[name].shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def read_meta(path: Path | str) -> dict[str, Any]:
    """The sidecar if present (else the header embedded in the tensor file)."""
    tfile, sfile = tensor_file(path), sidecar_file(path)
    if sfile.is_file():
        try:
            meta = json.loads(sfile.read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"{sfile}: unreadable weights sidecar ({e})") from None
        if not isinstance(meta, dict):
            raise BenchError(f"{sfile}: weights sidecar is not a JSON object")
        return meta
    if not tfile.is_file():
        raise BenchError(f"{tfile}: weights file not found")
    from safetensors import safe_open

    try:
        with safe_open(str(tfile), framework="pt") as f:
            header = (f.metadata() or {}).get(_META_KEY)
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise BenchError(f"{tfile}: corrupt safetensors file ({e})") from None
    return json.loads(header) if header else {}


def load_weights(path: Path | str, expected_arch: str | None = None,
                 verify_hash: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read `<stem>.safetensors` (+ sidecar) -> (state_dict, meta) on the CPU.

    Raises BenchError naming the file when it is missing, corrupt, does not match the sha256
    its sidecar recorded, or holds a different architecture than `expected_arch`.
    """
    from safetensors.torch import load

    tfile = tensor_file(path)
    if not tfile.is_file():
        raise BenchError(f"{tfile}: weights file not found")
    meta = read_meta(path)
    blob = tfile.read_bytes()
    if verify_hash and meta.get("sha256") and hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise BenchError(f"{tfile}: contents do not match the sha256 in {sidecar_file(path).name}"
                         " (file modified or truncated); retrain or restore it")
    try:
        state = load(blob)
    except Exception as e:
        raise BenchError(f"{tfile}: corrupt safetensors file ({e})") from None
    if verify_hash and meta.get("tensors_sha256") and tensors_digest(state) != meta["tensors_sha256"]:
        raise BenchError(f"{tfile}: tensor data do not match the checksum recorded when it was "
                         "written (file modified or damaged); retrain or restore it")
    if expected_arch is not None and meta.get("arch") not in (None, expected_arch):
        raise BenchError(f"{tfile}: holds architecture {meta['arch']!r}, "
                         f"expected {expected_arch!r}")
    meta.setdefault("sha256", hashlib.sha256(blob).hexdigest())
    return state, meta
