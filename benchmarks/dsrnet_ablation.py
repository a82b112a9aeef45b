"""DSRNet reference and depth ablation (the paper's Table 10 analogue) on SynthSewer-SR.

Rows, each trained with the same budget through `bench train-sr` and scored by `bench eval-sr`
on the test split (never seen in training or model selection):
  adjacent refs x depth predicted | gt | none, and `self` refs x depth predicted | none;
plus two evaluation-only rows: the adjacent-trained models fed `self` references at test time
(does the trained network actually use what the reference carries?).

    python benchmarks/dsrnet_ablation.py [--iterations 1200] [--n-feats 32] [--out results/...]

Writes <out>.json (every number and the commands) and <out>.md (the table). Each row is its own
`bench` process; weights are cached, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROWS = [  # (training ref policy, depth source)
    ("adjacent", "predicted"), ("adjacent", "gt"), ("adjacent", "none"),
    ("self", "predicted"), ("self", "none"),
]
CROSS = [("adjacent", "predicted"), ("adjacent", "none")]  # trained adjacent, tested self


def bench(*args: str) -> dict:
    cmd = [sys.executable, "-m", "bench.cli", *args, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="dsrnet-plus")
    ap.add_argument("--iterations", type=int, default=1200)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--patch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--n-feats", type=int, default=32, help="network width (paper: 64)")
    ap.add_argument("--unet-width", type=int, default=32, help="depth U-Net width (paper: 64)")
    ap.add_argument("--rows", default="all", help="comma list of policy:depth, or all")
    ap.add_argument("--out", default="results/dsrnet-ablation-quick")
    args = ap.parse_args()
    b = args.backend
    common = ["--set", f"sr.train.iterations={args.iterations}",
              "--set", f"sr.train.batch_size={args.batch_size}",
              "--set", f"sr.train.patch_size={args.patch_size}",
              "--set", f"sr.train.lr={args.lr}",
              "--set", f"sr.train.val_every={max(args.iterations // 4, 1)}"]
    rows = ROWS if args.rows == "all" else [tuple(r.split(":")) for r in args.rows.split(",")]
    out = Path(args.out)
    report = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
              "settings": vars(args), "rows": []}
    bicubic = bench("eval-sr", "--backend", "bicubic", *common)["backends"]["bicubic"]
    report["bicubic"] = bicubic

    def hp(depth: str) -> list[str]:
        return ["--set", f"sr.hparams.{b}={{depth_source: {depth}, n_feats: {args.n_feats}, "
                         f"unet_width: {args.unet_width}}}"]

    for policy, depth in rows:
        sets = [*common, *hp(depth), "--set", f"sr.ref_policy={policy}"]
        t0 = time.time()
        trained = bench("train-sr", "--backend", b, *sets)
        train_s = time.time() - t0
        scores = bench("eval-sr", "--backend", b, *sets)
        row = {"train_refs": policy, "test_refs": scores["ref_policy"], "depth": depth,
               **scores["backends"][b], "best_val_psnr_y": trained["best_val_psnr_y"],
               "best_iteration": trained["best_iteration"], "train_seconds": round(train_s),
               "weights": trained["weights"]}
        report["rows"].append(row)
        print(json.dumps({k: row[k] for k in ("train_refs", "depth", "psnr_y", "ssim_y")}),
              flush=True)
        if (policy, depth) in CROSS:
            cross = bench("eval-sr", "--backend", b, *sets[:-2], "--set", "sr.ref_policy=self",
                          "--set", f"sr.weights.{b}={trained['weights']}")
            report["rows"].append({"train_refs": policy, "test_refs": cross["ref_policy"],
                                   "depth": depth, **cross["backends"][b]})
        out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    s = report["settings"]
    bic = report["bicubic"]
    lines = [
        f"**{s['backend']} reference and depth ablation (paper Table 10 analogue), SynthSewer-SR "
        f"test split ({bic['n_images']} frames)**", "",
        f"Command: `{report['command']}`", "",
        f"Same budget per row: {s['iterations']} iterations of {s['batch_size']} x "
        f"{s['patch_size']}x{s['patch_size']} LR patches (Ref: the same window, 4x), Adam lr "
        f"{s['lr']} cosine, L_rec + L_dep; width n_feats={s['n_feats']}, U-Net width "
        f"{s['unet_width']} (the paper: 64 / 64); best checkpoint on the validation split. "
        f"2-core CPU.", "",
        "| train refs | test refs | depth | PSNR-Y (dB) | SSIM-Y | Δ vs bicubic (dB) | "
        "best val PSNR-Y | train s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
        f"| – | – | bicubic | {bic['psnr_y']:.3f} | {bic['ssim_y']:.4f} | 0 | | |",
    ]
    for r in report["rows"]:
        val = f"{r['best_val_psnr_y']:.3f}" if "best_val_psnr_y" in r else ""
        lines.append(f"| {r['train_refs']} | {r['test_refs']} | {r['depth']} | "
                     f"{r['psnr_y']:.3f} | {r['ssim_y']:.4f} | "
                     f"{r['psnr_y'] - bic['psnr_y']:+.3f} | {val} | {r.get('train_seconds', '')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
