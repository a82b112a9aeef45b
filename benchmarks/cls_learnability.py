"""Is SynthSewer-cls learnable at a CPU budget? One classifier trained on HR vs trivial predictors.

    python benchmarks/cls_learnability.py N_TRAIN N_TEST EPOCHS IMAGE_SIZE MODEL PRESET

Trains classification/MODEL (preset PRESET) on N_TRAIN SynthSewer-cls images (seed 0, batch 16,
lr 2e-3) and prints F1 Mean / F2-CIW / F1-Normal on N_TEST test images next to the all-negative,
per-class-prior (mean of 200 Bernoulli draws) and all-positive predictors.
"""
import sys, time, numpy as np, torch
torch.set_num_threads(2)
from bench.datasets import open_dataset
from tasks import TASK_MODELS
from tasks.base import FitConfig
from tasks.classification.metrics import evaluate_scores
n_train, n_test, epochs, size, model_name, preset = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
ds = open_dataset("synthsewer-cls", seed=0, n_train=n_train, n_val=2, n_test=n_test)
tr, te = ds.split("train"), ds.split("test")
classes = ds.classes
imgs = [s.hr for s in tr]; tg = [s.target for s in tr]
timgs = [s.hr for s in te]; ttg = [s.target for s in te]
L = np.stack([t.target.labels for t in tr]); T = np.stack([t.labels for t in ttg])
print("train positives per class", L.sum(0).tolist(), "normal", int((L.sum(1)==0).sum()), flush=True)
print("test positives per class", T.sum(0).tolist(), "normal", int((T.sum(1)==0).sum()), flush=True)
m = TASK_MODELS.get(f"classification/{model_name}")()
t0 = time.time()
m.fit(imgs, tg, classes, FitConfig(epochs=epochs, batch_size=16, lr=2e-3, image_size=size, size=preset, seed=0))
print("fit s", round(time.time()-t0), "loss first/last", m.history[0], np.mean(m.history[-5:]), flush=True)
def show(name, rows):
    d = {(r.cls, r.metric): r.value for r in rows}
    print(f"{name:14s} F1 Mean {100*d[('Mean','f1')]:.2f}  F2-CIW {100*d[('F2-CIW','f2_ciw')]:.2f}  F1-Normal {100*d[('F1-Normal','f1_normal')]:.2f}", flush=True)
show(f"{model_name} HR", m.evaluate(timgs, ttg, classes))
show("all-negative", evaluate_scores(np.zeros(T.shape), T, classes))
prior = L.mean(0)
rng = np.random.default_rng(0)
res = [ {(r.cls,r.metric): r.value for r in evaluate_scores((rng.uniform(size=T.shape) < prior).astype(float), T, classes)} for _ in range(200)]
print(f"prior-sampled  F1 Mean {100*np.mean([r[('Mean','f1')] for r in res]):.2f}  F2-CIW {100*np.mean([r[('F2-CIW','f2_ciw')] for r in res]):.2f}  F1-Normal {100*np.mean([r[('F1-Normal','f1_normal')] for r in res]):.2f} (mean of 200 draws)")
show("all-positive", evaluate_scores(np.ones(T.shape), T, classes))
