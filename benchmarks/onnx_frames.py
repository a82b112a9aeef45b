"""ORT vs PyTorch on SynthSewer frames with trained weights: export each weights file with
`bench export`'s code and compare the raw outputs at two LR sizes (80x112, 64x48) with the SAME
file, next to how far PyTorch itself moves when the LR moves by 1e-6 (the matching's argmax
flips on near-ties, so that is the floor any second runtime can be held to).

    python benchmarks/onnx_frames.py WEIGHTS.safetensors [...] [--out results/onnx-frames.json]

Each file needs its sidecar (`bench train-sr` / `bench distill` write one): the backend name and
hyper-parameters come from it.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from test_export import _max_abs_on_frames, _pytorch_noise_sensitivity

    from bench_cli import backend_from_weights

    from bench import atomic
    from bench.export import export_backend

    rows = []
    for w in args.weights:
        backend, overrides = backend_from_weights(w)
        name = backend.name
        with tempfile.TemporaryDirectory() as tmp:
            export_backend(backend, Path(tmp) / "m.onnx")
            diffs = _max_abs_on_frames(backend, Path(tmp) / "m.onnx")
        row = {"weights": w, "backend": name, "hparams": overrides,
               "max_abs_lr_80x112": diffs[0], "max_abs_lr_64x48": diffs[1],
               "pytorch_self_change_under_1e-6_lr_noise": _pytorch_noise_sensitivity(backend)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        report = {"command": "python " + " ".join(sys.argv), "threads": args.threads,
                  "rows": rows}
        atomic.write_bytes(args.out, json.dumps(report, indent=1).encode())


if __name__ == "__main__":
    main()
