"""Is SynthSewer-cls learnable at a CPU budget, and does the classifier use what x4 destroys?

    python benchmarks/cls_learnability.py N_TRAIN N_TEST EPOCHS IMAGE_SIZE MODEL PRESET \
        [--model MODEL ...] [--lr LR] [--json OUT.json]

Trains classification/MODEL (preset PRESET; `--model` adds more, e.g. two-stage) on N_TRAIN
SynthSewer-cls training images (generator seed 0, fit seed 0, batch 16, lr 2e-3 unless
--lr: configs/tasks/classification.yaml's defaults) and prints F1 Mean / F2-CIW / F1-Normal (threshold score >= 0.5)
on N_TEST test images next to three trivial predictors on the same images:
- all-negative: no class ever predicted (every image "normal");
- per-class prior: class c predicted with probability = its training frequency (mean of 200
  Bernoulli draws);
- all-positive: every class predicted on every image.
Each trained model is also scored on the LR variant of the same test images (the harness's:
the quick profile's x4 degradation, bicubic back to 224 px; bench.variants) and the HR - LR
difference of its Mean F1, F1-Normal and macro ROC-AUC (scikit-learn, over the classes with a
test positive; threshold-free: does the ranking itself lose anything?) gets a paired
percentile bootstrap interval over the test images (B=1000, the same draws for both arms).
It also prints the LR variant's mean PSNR-Y / SSIM-Y against HR on the test images (what
x4 takes from this generator version; the JSON records the version).
`--json OUT` also writes everything (command, class counts, numbers, fit seconds) atomically.
Fit seconds depend on the machine's load: not a timing benchmark.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def summary(rows) -> dict[str, float]:  # type: ignore[no-untyped-def]
    d = {(r.cls, r.metric): r.value for r in rows}
    return {"f1_mean": 100 * d[("Mean", "f1")], "f2_ciw": 100 * d[("F2-CIW", "f2_ciw")],
            "f1_normal": 100 * d[("F1-Normal", "f1_normal")]}


def macro_auc(truth: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean over the classes with a positive of sklearn's ROC-AUC (per-image weights = a
    bootstrap resample's draw counts); NaN if some such class has no negative or positive
    left in the resample."""
    from sklearn.metrics import roc_auc_score

    out = []
    for k in np.flatnonzero(truth.sum(0) > 0):
        y = truth[:, k]
        w = np.ones(len(y)) if weights is None else weights
        if w[y > 0].sum() == 0 or w[y == 0].sum() == 0:
            return float("nan")
        out.append(roc_auc_score(y, scores[:, k], sample_weight=w))
    return float(np.mean(out))


def hr_vs_lr(states: dict, classes: list[str], truth: np.ndarray, settings=None) -> dict:
    """HR and LR summaries, per-class AUC and the paired intervals of HR - LR
    (`settings`: bench.stats.bootstrap.Settings, default B=1000, 95 %, seed 0)."""
    from sklearn.metrics import roc_auc_score

    from bench.stats.bootstrap import Settings, percentile_interval, resample_counts, rng_for
    from tasks.classification.metrics import ClassificationReplay

    st = settings or Settings()
    counts = resample_counts(len(truth), st.bootstrap, rng_for(st, 0))
    reps, out = {}, {}
    for arm, state in states.items():
        replay = ClassificationReplay(state, classes)
        vals = replay.values(counts)
        cols = {"f1_mean": replay.keys.index(("Mean", "f1")),
                "f1_normal": replay.keys.index(("F1-Normal", "f1_normal"))}
        reps[arm] = {k: 100 * vals[:, c] for k, c in cols.items()}
        reps[arm]["macro_auc"] = np.array([macro_auc(truth, state["scores"], w) for w in counts])
        out[arm] = {"macro_auc": macro_auc(truth, state["scores"]),
                    "auc": {c: round(float(roc_auc_score(truth[:, k], state["scores"][:, k])), 4)
                            for k, c in enumerate(classes) if truth[:, k].any()}}
    diff = {}
    for key in ("f1_mean", "f1_normal", "macro_auc"):
        lo, hi = percentile_interval(reps["HR"][key] - reps["LR"][key], st.level)
        diff[key] = [float(lo), float(hi)]
    out["HR-LR interval"] = diff
    out["interval"] = (f"paired percentile bootstrap over the {len(truth)} test images "
                       f"(B={st.bootstrap}, {st.level:.0%}, stats.seed={st.seed})")
    return out


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, typ in (("n_train", int), ("n_test", int), ("epochs", int), ("image_size", int),
                      ("model", str), ("preset", str)):
        ap.add_argument(name, type=typ)
    ap.add_argument("--model", dest="more", action="append", default=[],
                    help="another model to train and score (repeatable)")
    ap.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 2e-3)")
    ap.add_argument("--json", default=None, help="write the results to this file too")
    a = ap.parse_args(argv)

    import torch

    from bench.config import load_config
    from bench.datasets import open_dataset
    from bench.metrics.image_quality import quality_row
    from bench.variants import LR, VariantContext, VariantImages
    from tasks import TASK_MODELS
    from tasks.base import FitConfig
    from tasks.classification.metrics import evaluate_scores

    torch.set_num_threads(2)
    ds = open_dataset("synthsewer-cls", seed=0, n_train=a.n_train, n_val=2, n_test=a.n_test)
    train, test, classes = ds.split("train"), ds.split("test"), ds.classes
    labels = np.stack([s.target.labels for s in train])
    truth = np.stack([s.target.labels for s in test])
    out: dict = {
        "command": "python benchmarks/cls_learnability.py " + " ".join(argv),
        "dataset": {"name": "synthsewer-cls", "fingerprint": ds.fingerprint(), "seed": 0,
                    "n_train": a.n_train, "n_test": a.n_test},
        "threshold": "score >= 0.5", "classes": classes,
        "train_positives": labels.sum(0).tolist(), "train_normal": int((labels.sum(1) == 0).sum()),
        "test_positives": truth.sum(0).tolist(), "test_normal": int((truth.sum(1) == 0).sum()),
        "fit": {"epochs": a.epochs, "image_size": a.image_size, "preset": a.preset,
                "batch_size": 16, "lr": a.lr, "seed": 0},
        "predictors": {},
    }
    print("train positives per class", dict(zip(classes, out["train_positives"])),
          "normal", out["train_normal"], flush=True)
    print("test positives per class", dict(zip(classes, out["test_positives"])),
          "normal", out["test_normal"], flush=True)

    def show(name: str, row: dict) -> None:
        out["predictors"][name] = row
        print(f"{name:28s} F1 Mean {row['f1_mean']:6.2f}  F2-CIW {row['f2_ciw']:6.2f}  "
              f"F1-Normal {row['f1_normal']:6.2f}", flush=True)

    cfg = FitConfig(epochs=a.epochs, batch_size=16, lr=a.lr, image_size=a.image_size,
                    size=a.preset, seed=0)
    # The LR variant exactly as `bench run --task classification` makes it (quick profile).
    run_cfg = load_config("quick", **{"task.name": "classification"})
    lr_images = VariantImages(test, LR, VariantContext(run_cfg, None, "cpu", "self", "", {}))
    arms = {"HR": [s.hr for s in test], "LR": lr_images}
    # How much x4 takes from these images: PSNR-Y / SSIM-Y of the LR variant (bench.metrics).
    quality = [quality_row(np.asarray(lr), s.hr, run_cfg.degradation.scale)
               for lr, s in zip(lr_images, test)]
    out["dataset"]["generator"] = getattr(ds, "version", None)
    out["dataset"]["lr_vs_hr"] = {k: float(np.mean([q[k] for q in quality]))
                                  for k in ("psnr_y", "ssim_y")}
    print("LR variant vs HR (test images):", {k: round(v, 3) for k, v in
                                              out["dataset"]["lr_vs_hr"].items()}, flush=True)
    targets = [s.target for s in test]
    for name in [a.model, *a.more]:
        model = TASK_MODELS.get(f"classification/{name}")()
        t0 = time.time()
        model.fit([s.hr for s in train], [s.target for s in train], classes, cfg)
        fit_s = time.time() - t0
        evs = {arm: model.run_evaluator(ims, targets, classes) for arm, ims in arms.items()}
        for arm, ev in evs.items():
            extra = {"fit_seconds": round(fit_s, 1), "loss_first": model.history[0],
                     "loss_last5": float(np.mean(model.history[-5:]))} if arm == "HR" else {}
            show(f"{name} {a.preset} ({arm})", {**summary(ev.compute()), **extra})
        cmp = hr_vs_lr({arm: ev.state() for arm, ev in evs.items()}, classes, truth)
        out["predictors"][f"{name} {a.preset} (HR)"]["macro_auc"] = cmp["HR"]["macro_auc"]
        out["predictors"][f"{name} {a.preset} (LR)"]["macro_auc"] = cmp["LR"]["macro_auc"]
        out.setdefault("hr_vs_lr", {})[f"{name} {a.preset}"] = cmp
        hr_row, lr_row = (out["predictors"][f"{name} {a.preset} ({arm})"] for arm in ("HR", "LR"))
        print(f"{name} HR - LR: " + "; ".join(
            f"{k} {hr_row[k] - lr_row[k]:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            for k, (lo, hi) in cmp["HR-LR interval"].items()), flush=True)
    show("all-negative", summary(evaluate_scores(np.zeros(truth.shape), truth, classes)))
    rng = np.random.default_rng(0)
    draws = [summary(evaluate_scores((rng.uniform(size=truth.shape) < labels.mean(0)) * 1.0,
                                     truth, classes)) for _ in range(200)]
    show("per-class prior (200x)", {k: float(np.mean([d[k] for d in draws])) for k in draws[0]})
    show("all-positive", summary(evaluate_scores(np.ones(truth.shape), truth, classes)))
    if a.json:
        from bench.atomic import write_text
        write_text(a.json, json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
