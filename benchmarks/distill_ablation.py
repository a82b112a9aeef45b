"""DSRNet-D loss ablation (the paper's Table 11 analogue) on SynthSewer-SR.

Rows, each the student architecture (DSRNet-S) trained with the same budget, data and seeds:
  L_rec            `bench train-sr --backend dsrnet-s` (the student trained alone)
  L_rec + L_kd     `bench distill` with sr.distill.lambda_ad=0
  L_rec + L_ad     `bench distill` with sr.distill.lambda_kd=0
  all three        `bench distill` (λ = 1, 0.5, 0.1)
The teacher (DSRNet+: the teacher architecture, at `--teacher-n-feats`, by default twice the
student's CPU-budget width) is trained once, with `--teacher-iterations`, by `bench
train-sr`, and passed to
every distillation as a file (`sr.weights.dsrnet-plus`). Every row is scored by `bench
eval-sr` on the test split (never seen in training or model selection), for each seed
(`sr.train.seed`: init, patches, noise; the data are the same for every seed), and reported
as mean ± sample std over seeds.

    python benchmarks/distill_ablation.py [--seeds 0 1 2] [--iterations 400] [--out ...]

Writes <out>.json (every number and the commands) and <out>.md. Each step is a `bench`
process whose weights are cached, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from bench_cli import bench  # benchmarks/bench_cli.py (run as scripts: their folder is on sys.path)

ROWS = [  # (label, losses, command kind, sr.distill overrides)
    ("rec", "L_rec", "train-sr", {}),
    ("rec+kd", "L_rec + L_kd", "distill", {"lambda_ad": 0}),
    ("rec+ad", "L_rec + L_ad", "distill", {"lambda_kd": 0}),
    ("rec+kd+ad", "L_rec + L_kd + L_ad", "distill", {}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--iterations", type=int, default=300, help="student budget")
    ap.add_argument("--teacher-iterations", type=int, default=1200)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--patch-size", type=int, default=32, help="LR patch side (multiple of 16); 0 = whole frames (the paper's setting)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--n-feats", type=int, default=16, help="student width (paper: 64)")
    ap.add_argument("--unet-width", type=int, default=16, help="student U-Net width (paper: 64)")
    ap.add_argument("--teacher-n-feats", type=int, default=32, help="teacher width (paper: 64)")
    ap.add_argument("--teacher-unet-width", type=int, default=32)
    ap.add_argument("--n-test", type=int, default=48, help="test frames")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per bench process (1 is faster on a shared machine)")
    ap.add_argument("--out", default="results/distill-ablation-quick")
    args = ap.parse_args()
    out = Path(args.out)

    def train_sets(iterations: int) -> list[str]:
        return ["--set", f"sr.train.iterations={iterations}",
                "--set", f"sr.train.batch_size={args.batch_size}",
                "--set", f"sr.train.patch_size={args.patch_size or 'null'}",
                "--set", f"sr.train.lr={args.lr}",
                "--set", f"sr.train.val_every={max(iterations // 4, 1)}",
                "--set", f"sr.eval.n_test={args.n_test}",
                *(["--set", f"threads={args.threads}"] if args.threads else [])]

    def hp(backend: str) -> list[str]:
        if backend == "dsrnet-plus":
            feats, unet = args.teacher_n_feats, args.teacher_unet_width
        else:
            feats, unet = args.n_feats, args.unet_width
        return ["--set", f"sr.hparams.{backend}={{n_feats: {feats}, unet_width: {unet}}}"]

    report = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
              "settings": vars(args), "rows": {}}
    t0 = time.time()
    teacher = bench("train-sr", "--backend", "dsrnet-plus", *train_sets(args.teacher_iterations),
                    *hp("dsrnet-plus"))
    report["teacher"] = {**_score("dsrnet-plus", teacher["weights"], train_sets(
        args.teacher_iterations) + hp("dsrnet-plus")), "best_val_psnr_y":
        teacher["best_val_psnr_y"], "weights": teacher["weights"]}
    report["bicubic"] = bench("eval-sr", "--backend", "bicubic",
                              *train_sets(args.iterations))["backends"]["bicubic"]
    print(json.dumps({"teacher": report["teacher"]["psnr_y"],
                      "bicubic": report["bicubic"]["psnr_y"]}), flush=True)
    for seed in args.seeds:
        for label, losses, kind, lambdas in ROWS:
            sets = [*train_sets(args.iterations), "--set", f"sr.train.seed={seed}"]
            if kind == "train-sr":
                trained = bench("train-sr", "--backend", "dsrnet-s", *sets, *hp("dsrnet-s"))
                backend = "dsrnet-s"
            else:
                sets += ["--set", f"sr.weights.dsrnet-plus={teacher['weights']}",
                         *hp("dsrnet-plus"), *hp("dsrnet-d")]
                sets += [a for k, v in lambdas.items() for a in ("--set", f"sr.distill.{k}={v}")]
                trained = bench("distill", "--student", "dsrnet-s", *sets)
                backend = "dsrnet-d"
            row = {**_score(backend, trained["weights"], sets + hp(backend)),
                   "best_val_psnr_y": trained["best_val_psnr_y"], "weights": trained["weights"]}
            report["rows"].setdefault(label, {"losses": losses, "seeds": {}})["seeds"][seed] = row
            print(json.dumps({"row": label, "seed": seed, "psnr_y": row["psnr_y"]}), flush=True)
            out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    report["wall_seconds"] = round(time.time() - t0)
    for row in report["rows"].values():
        for m in ("psnr_y", "ssim_y"):
            vals = [s[m] for s in row["seeds"].values()]
            row[m] = {"mean": statistics.mean(vals),
                      "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


def _score(backend: str, weights: str, sets: list[str]) -> dict:
    """PSNR/SSIM-Y of these weights on the test split, through `bench eval-sr`."""
    res = bench("eval-sr", "--backend", backend, *sets, "--set", f"sr.weights.{backend}={weights}")
    return {k: res["backends"][backend][k] for k in ("psnr_y", "ssim_y", "n_images")}


def markdown(report: dict) -> str:
    s, bic, t = report["settings"], report["bicubic"], report["teacher"]
    seeds = ", ".join(str(x) for x in s["seeds"])
    lines = [
        "**DSRNet-D loss ablation (paper Table 11 analogue), SynthSewer-SR**", "",
        f"Command: `{report['command']}` ({report.get('wall_seconds', '?')} s wall, 2-core CPU)",
        "",
        f"Student DSRNet-S (2 residual blocks per encoder level) at width n_feats="
        f"{s['n_feats']}, U-Net width {s['unet_width']}; teacher DSRNet+ (4 blocks) at "
        f"{s['teacher_n_feats']} / {s['teacher_unet_width']} (the paper: 64 / 64 for both). "
        f"Every student row: {s['iterations']} iterations of {s['batch_size']} x "
        + (f"{s['patch_size']}x{s['patch_size']} LR patches" if s["patch_size"]
           else "whole LR frames") + f", Adam lr {s['lr']} cosine, best "
        f"checkpoint on the validation split, seeds {seeds} (same data); the teacher: "
        f"{s['teacher_iterations']} iterations. Test: {bic['n_images']} frames, PSNR/SSIM on Y "
        "(BT.601), crop 4; mean ± sample std over seeds.", "",
        "| L_rec | L_kd | L_ad | PSNR-Y | SSIM-Y | Δ PSNR vs L_rec |",
        "|:-:|:-:|:-:|---:|---:|---:|"]
    base = report["rows"]["rec"]["psnr_y"]["mean"]
    for label, row in report["rows"].items():
        marks = ["✓", "✓" if "kd" in label else "", "✓" if "ad" in label else ""]
        p, q = row["psnr_y"], row["ssim_y"]
        lines.append(f"| {' | '.join(marks)} | {p['mean']:.3f} ± {p['std']:.3f} | "
                     f"{q['mean']:.4f} ± {q['std']:.4f} | {p['mean'] - base:+.3f} |")
    lines += ["", f"Teacher (DSRNet+): PSNR-Y {t['psnr_y']:.3f}, SSIM-Y {t['ssim_y']:.4f}; "
                  f"bicubic: PSNR-Y {bic['psnr_y']:.3f}, SSIM-Y {bic['ssim_y']:.4f}.",
              "", "Per seed (PSNR-Y): " + "; ".join(
                  f"{label} " + " / ".join(f"{r['psnr_y']:.3f}" for r in row["seeds"].values())
                  for label, row in report["rows"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
