"""PSNR-Y gain over bicubic per SynthSewer-SR *scene*, with a scene-level bootstrap interval.

SynthSewer-SR renders sequences of SEQ_LEN frames, one scene (pipe, lighting, defects) each, so
frames of one scene are not independent: an interval over frames would be too narrow. This
script averages each backend's gain over bicubic within a scene, then resamples scenes
(percentile bootstrap, B=2000, seed 0). It exists because the quick profile's SR test split is
16 frames = 2 scenes, too few to judge a backend whose gain depends on the scene (DSRNet).

It uses the harness's own inference path (trained weights from the cache, SR outputs cached
under the same keys as `bench eval-sr`); run `bench eval-sr ... --set sr.eval.n_test=N` first
or let it train/upscale here.

    python benchmarks/sr_scenes.py --n-test 96 --json results/sr-scenes-quick.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--backends", default="edsr,dsrnet,dsrnet-s,dsrnet-d")
    ap.add_argument("--n-test", type=int, default=96, help="test frames (a multiple of SEQ_LEN)")
    ap.add_argument("--json", default=None, help="write the numbers here")
    args = ap.parse_args()

    from bench.backends import ref_policy_for, resolve_backends, sr_context
    from bench.cache import Cache, cache_root
    from bench.commands.common import resolve_device
    from bench.config import load_config
    from bench.datasets import open_dataset
    from bench.datasets.synthsewer import SEQ_LEN
    from bench.sr_eval import per_image_quality
    from bench.stats.bootstrap import percentile_interval
    from bench.training.harness import ensure_weights

    if args.n_test % SEQ_LEN:
        raise SystemExit(f"--n-test {args.n_test}: expected a multiple of {SEQ_LEN} (frames per scene)")
    cfg = load_config(args.profile, overrides=[f"sr.eval.n_test={args.n_test}"])
    t = cfg.sr.train
    data = open_dataset("synthsewer-sr", seed=cfg.data.seed, n_train=t.n_train, n_val=t.n_val,
                        n_test=args.n_test)
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
    n_scenes = args.n_test // SEQ_LEN
    per_scene = {n: np.asarray(v).reshape(n_scenes, SEQ_LEN).mean(1) for n, v in scores.items()}
    rng = np.random.default_rng(0)
    draws = rng.integers(0, n_scenes, size=(2000, n_scenes))  # the same scenes for every backend
    out = {"command": "python benchmarks/sr_scenes.py " + " ".join(
               f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
           "profile": args.profile, "n_test": args.n_test, "n_scenes": n_scenes,
           "bicubic_psnr_y": float(np.mean(scores["bicubic"])), "gain_over_bicubic": {}}
    print(f"PSNR-Y gain over bicubic, {args.n_test} test frames = {n_scenes} scenes; 95% interval: "
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
    if args.json:
        from bench.atomic import write_text

        write_text(args.json, json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
