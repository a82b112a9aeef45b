"""Would another runtime reach the deployment speed target? PyTorch dsrnet-s-architecture
student vs the same exported ONNX file in ONNX Runtime and in OpenVINO, in ONE process.

    pip install openvino            # not a dependency of the project; this script only
    python benchmarks/openvino_latency.py

Protocol as benchmarks/deploy_latency.py: 2 threads, fp32 (OpenVINO's precision hint f32),
depth given (depth_source=gt), LR 112x80 / Ref 448x320, random-init weights (seed 0), the
harness's allocator setting; round-robin, median of 6 rounds after 2 warm-ups. Prints the
medians, the ratios to PyTorch and OpenVINO's max abs difference to PyTorch.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]


def main() -> None:
    import openvino as ov

    from bench.allocator import keep_freed_memory
    from bench.export import export_backend
    from deploy_latency import _build, _inputs
    from sr_backends.onnx_runtime import OnnxBackend

    torch.set_num_threads(2)
    keep_freed_memory()
    backend = _build("dsrnet-d", "gt")
    lr, ref, depth = _inputs((80, 112))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "student.onnx"
        export_backend(backend, path)
        ort_backend = OnnxBackend(path)
        feeds = ort_backend.feeds(lr, ref, depth)
        compiled = ov.Core().compile_model(str(path), "CPU", {
            "INFERENCE_NUM_THREADS": 2, "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()

    def pytorch():
        with torch.inference_mode():
            return backend.model(lr, ref, *depth)

    runs = {"pytorch": pytorch, "onnxruntime": lambda: ort_backend.run(feeds),
            "openvino": lambda: request.infer(feeds)[compiled.output(0)]}
    diff = (torch.from_numpy(np.asarray(runs["openvino"]())) - pytorch()).abs().max()
    print(f"openvino max abs vs pytorch {float(diff):.2e} (openvino {ov.__version__})")
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(8):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            if r >= 2:
                times[k].append(time.perf_counter() - t0)
    base = statistics.median(times["pytorch"])
    for k, v in times.items():
        print(f"{k:12s} {statistics.median(v):.3f} s  x{statistics.median(v) / base:.3f}")


if __name__ == "__main__":
    main()
