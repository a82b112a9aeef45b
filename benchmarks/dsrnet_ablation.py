"""DSRNet reference and depth ablation (the paper's Table 10 analogue) on SynthSewer-SR.

Rows, each trained with the same budget through `bench train-sr` and scored by `bench eval-sr`
on the test split (never seen in training or model selection):
  adjacent refs x depth predicted | gt | none, and `self` refs x depth predicted | none;
plus evaluation-only rows: the adjacent-trained models fed `self` references at test time
(does the trained network actually use what the reference carries?).

Two test sets: the quick profile's test split (16 frames = 2 scenes: few scenes, so one
scene's texture can decide the result) and a larger one (`--n-test-large`, default 96 frames
= 12 scenes; the same trained weights, passed as files, so nothing is retrained). The
training and validation splits are the same for both: SynthSewer item i of a split depends
only on (seed, split, i).

    python benchmarks/dsrnet_ablation.py [--iterations 1200] [--n-feats 32] [--out results/...]

Writes <out>.json (every number and the commands) and <out>.md (the table). Each row is its own
`bench` process; weights are cached, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench_cli import bench  # benchmarks/bench_cli.py (run as scripts: their folder is on sys.path)

ROWS = [  # (training ref policy, depth source)
    ("adjacent", "predicted"), ("adjacent", "gt"), ("adjacent", "none"),
    ("self", "predicted"), ("self", "none"),
]
CROSS = [("adjacent", "predicted"), ("adjacent", "none")]  # trained adjacent, tested self


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="dsrnet-plus")
    ap.add_argument("--iterations", type=int, default=1200)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--patch-size", type=int, default=32,
                    help="LR patch side; 0 = whole frames (the paper's setting, batch 1)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--n-feats", type=int, default=32, help="network width (paper: 64)")
    ap.add_argument("--unet-width", type=int, default=32, help="depth U-Net width (paper: 64)")
    ap.add_argument("--n-test-large", type=int, default=96,
                    help="frames of the larger test set (0 = skip it)")
    ap.add_argument("--rows", default="all", help="comma list of policy:depth, or all")
    ap.add_argument("--out", default="results/dsrnet-ablation-quick")
    args = ap.parse_args()
    b = args.backend
    common = ["--set", f"sr.train.iterations={args.iterations}",
              "--set", f"sr.train.batch_size={args.batch_size}",
              "--set", f"sr.train.patch_size={args.patch_size or 'null'}",
              "--set", f"sr.train.lr={args.lr}",
              "--set", f"sr.train.val_every={max(args.iterations // 4, 1)}"]
    rows = ROWS if args.rows == "all" else [tuple(r.split(":")) for r in args.rows.split(",")]
    out = Path(args.out)
    report = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
              "settings": vars(args), "rows": []}
    large = ["--set", f"sr.eval.n_test={args.n_test_large}"] if args.n_test_large else None
    report["bicubic"] = bench("eval-sr", "--backend", "bicubic", *common)["backends"]["bicubic"]
    if large:
        report["bicubic_large"] = bench("eval-sr", "--backend", "bicubic", *common,
                                        *large)["backends"]["bicubic"]

    def scores(sets: list[str], weights: str, policy: str) -> dict:
        """Quick test split (+ the larger one) with these weights and test-time refs."""
        fixed = [*sets, "--set", f"sr.weights.{b}={weights}", "--set", f"sr.ref_policy={policy}"]
        res = bench("eval-sr", "--backend", b, *fixed)
        row = {"test_refs": res["ref_policy"], **res["backends"][b]}
        if large:
            big = bench("eval-sr", "--backend", b, *fixed, *large)["backends"][b]
            row.update({f"{k}_large": v for k, v in big.items()})
        return row

    def hp(depth: str) -> list[str]:
        return ["--set", f"sr.hparams.{b}={{depth_source: {depth}, n_feats: {args.n_feats}, "
                         f"unet_width: {args.unet_width}}}"]

    for policy, depth in rows:
        sets = [*common, *hp(depth)]
        trained = bench("train-sr", "--backend", b, *sets, "--set", f"sr.ref_policy={policy}")
        log = (Path(trained["train_dir"]) / "log.csv").read_text().strip().splitlines()
        row = {"train_refs": policy, "depth": depth, **scores(sets, trained["weights"], policy),
               "best_val_psnr_y": trained["best_val_psnr_y"],
               "best_iteration": trained["best_iteration"],
               "train_seconds": round(float(log[-1].split(",")[-1])),  # from the training log
               "weights": trained["weights"]}
        report["rows"].append(row)
        print(json.dumps({k: row.get(k) for k in ("train_refs", "depth", "psnr_y",
                                                  "psnr_y_large")}), flush=True)
        if (policy, depth) in CROSS:
            report["rows"].append({"train_refs": policy, "depth": depth,
                                   **scores(sets, trained["weights"], "self")})
        out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    s = report["settings"]
    bic, big = report["bicubic"], report.get("bicubic_large")
    head = "| train refs | test refs | depth | PSNR-Y | SSIM-Y | Δ bicubic |"
    rule = "|---|---|---|---:|---:|---:|"
    if big:
        head += f" PSNR-Y ({big['n_images']}) | SSIM-Y ({big['n_images']}) | Δ bicubic ({big['n_images']}) |"
        rule += "---:|---:|---:|"
    head += " best val PSNR-Y | train s |"
    rule += "---:|---:|"
    lines = [
        f"**{s['backend']} reference and depth ablation (paper Table 10 analogue), SynthSewer-SR**",
        "", f"Command: `{report['command']}`", "",
        f"Same budget per row: {s['iterations']} iterations of {s['batch_size']} x "
        + (f"{s['patch_size']}x{s['patch_size']} LR patches (Ref: the same window, 4x)"
           if s["patch_size"] else "whole LR frames 112x80 (Ref: the whole next frame)")
        + f", Adam lr "
        f"{s['lr']} cosine, L_rec + L_dep; width n_feats={s['n_feats']}, U-Net width "
        f"{s['unet_width']} (the paper: 64 / 64); best checkpoint on the validation split "
        f"(4 frames). Test: the quick profile's split ({bic['n_images']} frames, 2 scenes)"
        + (f" and a larger one ({big['n_images']} frames)" if big else "")
        + ". PSNR/SSIM on Y (BT.601), crop 4. 2-core CPU.", "", head, rule]

    def cells(r: dict | None, ref: dict | None) -> str:
        if r is None or ref is None:
            return ""
        return (f" {r['psnr_y']:.3f} | {r['ssim_y']:.4f} | {r['psnr_y'] - ref['psnr_y']:+.3f} |")

    line = "| – | – | bicubic |" + cells(bic, bic) + (cells(big, big) if big else "") + " | |"
    lines.append(line)
    for r in report["rows"]:
        large = {"psnr_y": r["psnr_y_large"], "ssim_y": r["ssim_y_large"]} \
            if "psnr_y_large" in r else None
        val = f"{r['best_val_psnr_y']:.3f}" if "best_val_psnr_y" in r else ""
        lines.append(f"| {r['train_refs']} | {r['test_refs']} | {r['depth']} |"
                     + cells(r, bic) + (cells(large, big) if big else "")
                     + f" {val} | {r.get('train_seconds', '')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
