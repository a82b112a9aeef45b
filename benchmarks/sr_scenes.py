"""PSNR-Y gain over bicubic per SynthSewer-SR *scene*, with a scene-level bootstrap interval.

SynthSewer-SR renders sequences of SEQ_LEN frames, one scene (pipe, lighting, defects) each, so
frames of one scene are not independent: an interval over frames would be too narrow. This
script averages each backend's gain over bicubic within a scene, then resamples scenes
(percentile bootstrap, B=2000, seed 0). It exists because the quick profile's SR test split is
16 frames = 2 scenes, too few to judge a backend whose gain depends on the scene (DSRNet).

`--task T` measures the same on task T's own test images instead (synthsewer-pipe for
segmentation/detection, synthsewer-cls for classification, as the task config opens them):
there every image is a fresh scene with its next frame as the reference, so each image is
its own scene. That is what the downstream tables' SR columns are made of. With a
segmentation mask (`--task segmentation`) it also splits the gain by region: PSNR-Y of the
pixels of each class (and of the background) pooled over the test images, bootstrap over
images, so one sees whether a backend's gain lies on the defects the task model must find.

It uses the harness's own inference path (trained weights from the cache, SR outputs cached
under the same keys as `bench eval-sr`); run `bench eval-sr ... --set sr.eval.n_test=N` first
or let it train/upscale here.

    python benchmarks/sr_scenes.py --n-test 96 --json results/sr-scenes-quick.json
    python benchmarks/sr_scenes.py --task segmentation --json results/sr-scenes-pipe-quick.json \
        --backends edsr,dsrnet,rcan,atd-light,dsrnet-s,dsrnet-d \
        --rank-against results/study-quick/parts.json

`--rank-against PARTS` (a study's parts.json) adds Kendall τ between each of these gains
(whole image, defect pixels, background) and the study's segmentation/detection Means over the
backends given, with the study's own interval (task-score replicates, the gains held fixed;
bench/report/rank.py): does PSNR on the defects rank the backends the way the tasks do?
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--backends", default="edsr,dsrnet,dsrnet-s,dsrnet-d")
    ap.add_argument("--n-test", type=int, default=None,
                    help="test frames (a multiple of SEQ_LEN; default 96; with --task: the "
                         "task config's data.n_test)")
    ap.add_argument("--task", default=None,
                    help="score on this task's test images instead of SynthSewer-SR")
    ap.add_argument("--rank-against", default=None, metavar="PARTS_JSON",
                    help="a study's parts.json: Kendall tau of these gains vs its task Means")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override, as for bench (repeatable), e.g. "
                         "sr.train_by_backend.dsrnet-plus.iterations=600")
    ap.add_argument("--json", default=None, help="write the numbers here")
    args = ap.parse_args()
    if args.rank_against and args.task not in ("segmentation", "detection"):
        ap.error("--rank-against needs --task segmentation or detection (the region split "
                 "reads the pipe view's masks)")

    from bench.backends import ref_policy_for, resolve_backends, sr_context
    from bench.cache import Cache, cache_root
    from bench.commands.common import resolve_device
    from bench.config import load_config
    from bench.datasets import open_dataset
    from bench.datasets.synthsewer import SEQ_LEN
    from bench.plan import open_task_dataset
    from bench.sr_eval import per_image_quality
    from bench.stats.bootstrap import percentile_interval
    from bench.training.harness import ensure_weights

    overrides = [f"sr.eval.n_test={args.n_test}"] if args.n_test and not args.task else []
    overrides += args.sets
    if args.task and args.n_test:
        overrides.append(f"data.n_test={args.n_test}")
    direct = {"task.name": args.task} if args.task else {}
    cfg = load_config(args.profile, overrides=overrides, **direct)
    if args.task:  # one fresh scene per image (the pipe and cls views)
        data, per_scene_frames = open_task_dataset(cfg), 1
    else:
        n_test, per_scene_frames = args.n_test or 96, SEQ_LEN
        if n_test % SEQ_LEN:
            raise SystemExit(f"--n-test {n_test}: expected a multiple of {SEQ_LEN} "
                             "(frames per scene)")
        t = cfg.sr.train
        data = open_dataset("synthsewer-sr", seed=cfg.data.seed, n_train=t.n_train,
                            n_val=t.n_val, n_test=n_test)
    cache = Cache(cache_root(cfg.cache_dir))
    names = ["bicubic"] + [n for n in args.backends.split(",") if n and n != "bicubic"]
    resolved = resolve_backends(names, cfg)
    device = resolve_device(cfg.device)  # CPU by default, the GPU when present
    ensure_weights(resolved, cfg, cache, device)
    backends = {r.name: r.create(cache, device, cfg) for r in resolved}
    samples = list(data.split("test"))
    policy = ref_policy_for(samples, cfg)
    context = sr_context(data.fingerprint(), cfg, policy)
    scores = {name: [row["psnr_y"] for row in per_image_quality(backend, samples, cfg, cache,
                                                                  policy, context)]
              for name, backend in backends.items()}
    n_frames = len(samples)
    n_scenes = n_frames // per_scene_frames
    per_scene = {n: np.asarray(v).reshape(n_scenes, per_scene_frames).mean(1)
                 for n, v in scores.items()}
    rng = np.random.default_rng(0)
    draws = rng.integers(0, n_scenes, size=(2000, n_scenes))  # the same scenes for every backend
    out = {"command": "python benchmarks/sr_scenes.py " + shlex.join(sys.argv[1:]),
           "profile": args.profile, "dataset": data.name, "n_test": n_frames,
           "n_scenes": n_scenes,
           "bicubic_psnr_y": float(np.mean(scores["bicubic"])), "gain_over_bicubic": {}}
    print(f"PSNR-Y gain over bicubic on {data.name}, {n_frames} test frames = {n_scenes} scenes; 95% interval: "
          "percentile bootstrap over scenes (B=2000)")
    for name in names[1:]:
        gain = per_scene[name] - per_scene["bicubic"]
        lo, hi = percentile_interval(gain[draws].mean(1), 0.95)
        out["gain_over_bicubic"][name] = {"mean_db": float(gain.mean()), "lo": float(lo),
                                          "hi": float(hi), "per_scene_db": gain.round(3).tolist()}
        print(f"  {name:10s} {gain.mean():+.3f} dB [{lo:+.3f}, {hi:+.3f}]  per scene: "
              + " ".join(f"{g:+.2f}" for g in gain))
    first, *rest = names[1:]  # the other backends against the first listed, same draws
    out["minus_" + first] = {}
    for name in rest:
        diff = per_scene[name] - per_scene[first]
        lo, hi = percentile_interval(diff[draws].mean(1), 0.95)
        out["minus_" + first][name] = {"mean_db": float(diff.mean()), "lo": float(lo), "hi": float(hi)}
        print(f"  {name} - {first}: {diff.mean():+.3f} dB [{lo:+.3f}, {hi:+.3f}]")
    if args.task and all(s.target.mask is not None for s in samples):
        out["gain_by_region"] = by_region(backends, samples, data.classes, cfg, cache, policy,
                                          context, draws)
    if args.rank_against and "gain_by_region" in out:
        out["rank_agreement"] = rank_against(out, names, args.rank_against)
    if args.json:
        from bench.atomic import write_text

        write_text(args.json, json.dumps(out, indent=2) + "\n")


def by_region(backends, samples, classes, cfg, cache, policy, context, draws) -> dict:
    """PSNR-Y gain over bicubic on each region's pixels (background, then each class),
    squared errors pooled over the images (crop_border = scale, like eval-sr); the interval
    resamples images with `draws`. Ignore (255) pixels count nowhere."""
    from bench.backends import make_lr, upscale_cached
    from bench.metrics.image_quality import rgb_to_y
    from bench.stats.bootstrap import percentile_interval

    c = cfg.degradation.scale
    regions = ["background", *classes]
    sse = {n: np.zeros((len(samples), len(regions))) for n in backends}
    count = np.zeros((len(samples), len(regions)))
    for i, sample in enumerate(samples):
        mask = np.asarray(sample.target.mask)[c:-c, c:-c]
        hr_y = rgb_to_y(sample.hr)[c:-c, c:-c]
        count[i] = np.bincount(mask.ravel(), minlength=256)[:len(regions)]
        for name, backend in backends.items():
            sr = upscale_cached(backend, sample, make_lr(sample, cfg), policy, cache, context)
            err = (rgb_to_y(sr)[c:-c, c:-c] - hr_y) ** 2
            sse[name][i] = np.bincount(mask.ravel(), weights=err.ravel(), minlength=256)[:len(regions)]

    def gain(name, idx):  # dB over bicubic of the pooled MSE, per region
        return 10 * np.log10(sse["bicubic"][idx].sum(-2) / sse[name][idx].sum(-2))

    out = {}
    print("PSNR-Y gain over bicubic by region (pixels pooled over images; 95% interval over images)")
    for name in backends:
        if name == "bicubic":
            continue
        mean, boot = gain(name, slice(None)), gain(name, draws)
        out[name] = {}
        for k, region in enumerate(regions):
            lo, hi = percentile_interval(boot[:, k], 0.95)
            out[name][region] = {"mean_db": float(mean[k]), "lo": float(lo), "hi": float(hi),
                                 "pixels": int(count[:, k].sum())}
        print(f"  {name:10s} " + "  ".join(f"{r} {v['mean_db']:+.2f} [{v['lo']:+.2f}, {v['hi']:+.2f}]"
                                           for r, v in out[name].items()))
    return out


def rank_against(out: dict, names: list[str], parts_json: str) -> list[dict]:
    """Kendall τ of the whole-image, defect-pixel (mean over the classes) and background
    gains vs the study's pipe-view task Means (segmentation, detection)."""
    from pathlib import Path

    import pandas as pd

    from bench.report.study import rank_rows, state_replicates

    parts = json.loads(Path(parts_json).read_text())
    runs = {t: Path(d) for t, d in parts["task_runs"].items() if t in ("segmentation", "detection")}
    regions = out["gain_by_region"]
    classes = [r for r in next(iter(regions.values())) if r != "background"]
    gains = {
        "whole image": lambda b: out["gain_over_bicubic"][b]["mean_db"],
        "defect pixels": lambda b: float(np.mean([regions[b][c]["mean_db"] for c in classes])),
        "background": lambda b: regions[b]["background"]["mean_db"],
    }
    rows = []
    print(f"Kendall tau-b vs the task Means of {parts_json} (interval: task replicates)")
    for label, gain in gains.items():
        psnr = pd.Series({b: 0.0 if b == "bicubic" else gain(b) for b in names})
        for r in rank_rows(psnr, runs, names, state_replicates):
            rows.append({"quality": label, **r.as_dict()})
            print(f"  {label:14s} {r.task:13s} {r.model:14s} {r.metric:5s} tau {r.tau:+.2f} "
                  f"[{r.lo:+.2f}, {r.hi:+.2f}] ({r.n} backends)")
    return rows


if __name__ == "__main__":
    main()
