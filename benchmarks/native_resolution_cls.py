"""Does x4 degradation at a Sewer-ML-like native size survive the resize to the classifier input?

    python benchmarks/native_resolution_cls.py [--n 32] [--native 1040] [--input 224] [--json OUT]

Issue 23 item 6, a proxy without training: real Sewer-ML frames are ~1040 px wide and a
classifier reads 224x224. SynthSewer-cls scenes (generator seed 0, test split) are rendered at
NATIVE x NATIVE (square: the aspect of Sewer-ML frames is not modelled); per image:
- native: PSNR (RGB, whole image) between HR and its x4 LR (the harness's degradation:
  antialiased bicubic) bicubic-enlarged back to NATIVE;
- after resize: PSNR between HR and that LR-enlarged image, both resized to INPUT x INPUT with
  antialiased bicubic, i.e. what the classifier sees;
- x4 at input: the harness's SynthSewer-cls protocol: HR resized to INPUT, then x4 degraded
  and enlarged at INPUT.
A high "after resize" PSNR means the classifier input barely changes: x4 LR at native size then
costs little downstream, and SR has little to win back. This is an image-level proxy; the
classifier-level answer (F1 Δ) needs a classifier trained at INPUT on resized HR (plan in
docs/paper.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="test images (default 32)")
    ap.add_argument("--native", type=int, default=1040, help="native side in px (default 1040)")
    ap.add_argument("--input", type=int, default=224, help="classifier input side (default 224)")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    from bench.datasets.synthsewer import SynthSewerCls
    from bench.degrade import degrade, to_tensor, upsample_to
    from bench.degrade_config import DegradationConfig

    class Native(SynthSewerCls):
        name, width, height = f"synthsewer-cls-{args.native}", args.native, args.native

    def resize(t, side):
        return F.interpolate(t, size=(side, side), mode="bicubic", align_corners=False,
                             antialias=True).clamp(0, 1)

    def psnr(a, b):
        return float(10 * torch.log10(1 / F.mse_loss(a, b)))

    cfg = DegradationConfig()
    start = time.time()
    rows = []
    for s in Native(seed=0, n_train=1, n_val=1, n_test=args.n).split("test"):
        hr = to_tensor(s.hr)
        up = upsample_to(to_tensor(degrade(s.hr, cfg, 0)), tuple(hr.shape[-2:]))
        a, b = resize(hr, args.input), resize(up, args.input)
        small = (a * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        c = upsample_to(to_tensor(degrade(small, cfg, 0)), (args.input, args.input))
        rows.append((psnr(hr, up), psnr(a, b), psnr(a, c)))
    r = np.array(rows)
    out = {"command": "python benchmarks/native_resolution_cls.py " + " ".join(argv),
           "n": len(r), "native": args.native, "input": args.input,
           "psnr_native_db": round(float(r[:, 0].mean()), 2),
           "psnr_after_resize_db": round(float(r[:, 1].mean()), 2),
           "psnr_x4_at_input_db": round(float(r[:, 2].mean()), 2),
           "seconds": round(time.time() - start, 1)}
    print(json.dumps(out, indent=2))
    if args.json:
        from bench import atomic

        atomic.write_text(args.json, json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
