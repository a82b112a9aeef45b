"""What bf16 inference costs in image quality: PSNR/SSIM-Y of trained weights on the SynthSewer
test split in fp32 and under CPU bf16 autocast, and the max abs output difference.

    python benchmarks/bf16_quality.py WEIGHTS.safetensors [...] [--n-test 48] [--out F.json]

Context (issue 13, results/conv-ceiling.json): bf16 autocast runs the DSRNet-S forward in
~0.6x the fp32 time on this CPU, but misses the deployment bound (output within 1e-4 of fp32)
by two orders of magnitude; this measures what a deployment that accepts that would lose.
The test frames, degradation and reference policy are `bench eval-sr`'s (quick profile,
`--n-test` frames); each weights file needs its sidecar (backend name, hyper-parameters).
Nothing is cached: the harness has no bf16 mode, so these outputs never enter the SR cache.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--n-test", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from bench_cli import backend_from_weights

    from bench import atomic
    from bench.backends import depth_for, make_lr, ref_policy_for
    from bench.config import load_config
    from bench.datasets import open_dataset
    from bench.degrade import to_tensor, to_uint8
    from bench.metrics.image_quality import quality_row
    from bench.references import reference_image

    torch.set_num_threads(args.threads)
    cfg = load_config("quick", overrides=[f"sr.eval.n_test={args.n_test}"])
    t = cfg.sr.train
    data = open_dataset("synthsewer-sr", seed=cfg.data.seed, n_train=t.n_train, n_val=t.n_val,
                        n_test=cfg.sr.eval.n_test)
    samples = list(data.split("test"))
    policy = ref_policy_for(samples, cfg)
    rows = []
    for w in args.weights:
        backend, overrides = backend_from_weights(w)
        name = backend.name
        quality: dict[str, list[dict]] = {"fp32": [], "bf16": []}
        max_abs = 0.0
        for sample in samples:
            lr = make_lr(sample, cfg)
            ref = reference_image(sample, lr, policy, backend.scale) \
                if backend.needs_reference else None
            depth = depth_for(sample, policy, backend.scale) if backend.needs_depth else None
            lr_t, ref_t = to_tensor(lr), (to_tensor(ref) if ref is not None else None)
            with torch.inference_mode():
                fp32 = backend.upscale(lr_t, ref_t, depth)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    bf16 = backend.upscale(lr_t, ref_t, depth).float()
            max_abs = max(max_abs, float((bf16 - fp32).abs().max()))
            for k, out in (("fp32", fp32), ("bf16", bf16)):
                quality[k].append(quality_row(to_uint8(out), sample.hr, backend.scale))
        mean = {k: {m: float(np.mean([r[m] for r in v])) for m in ("psnr_y", "ssim_y")}
                for k, v in quality.items()}
        row = {"weights": w, "backend": name, "hparams": overrides, **mean,
               "delta_psnr_y": mean["bf16"]["psnr_y"] - mean["fp32"]["psnr_y"],
               "delta_ssim_y": mean["bf16"]["ssim_y"] - mean["fp32"]["ssim_y"],
               "max_abs_bf16_vs_fp32": max_abs, "n_images": len(samples)}
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("backend", "fp32", "bf16", "delta_psnr_y",
                                               "max_abs_bf16_vs_fp32")}), flush=True)
    result = {"command": "python benchmarks/bf16_quality.py " + " ".join(argv or sys.argv[1:]),
              "threads": args.threads, "ref_policy": policy,
              "conventions": "quality after the harness's uint8 rounding of the output "
                             "(as bench eval-sr); Y = BT.601; crop border = scale",
              "torch": torch.__version__, "rows": rows}
    if args.out:
        atomic.write_text(args.out, json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
