"""Classification: metrics vs scikit-learn, Sewer-ML's F2-CIW / F1-Normal vs an independent
implementation, the two-stage merge, training (pos_weight, streaming, determinism), Δ tables
with the summary rows, and `bench run --task classification` end to end."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.classification.metrics import CIW_WEIGHTS, evaluate_scores

CODES = list(CIW_WEIGHTS)


def _rows(scores, labels, classes):
    return {(r.cls, r.metric): r.value for r in evaluate_scores(scores, labels, classes)}


def _random_case(rng, n, k):
    labels = (rng.uniform(size=(n, k)) < rng.uniform(0.05, 0.5, size=k)).astype(np.uint8)
    scores = rng.uniform(size=(n, k))
    labels[:, 0] = 0                      # a class with no positives
    scores[:, 1] = rng.uniform(0, 0.49, n)  # a class never predicted
    scores[: n // 4] = np.minimum(scores[: n // 4], 0.3)  # images predicted normal
    scores[0, 2] = 0.5                    # exactly at the threshold counts as predicted
    return scores, labels


@pytest.mark.parametrize("seed", range(6))
def test_per_class_metrics_equal_sklearn(seed):
    from sklearn.metrics import fbeta_score, precision_recall_fscore_support

    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(5, 60)), len(CODES)
    scores, labels = _random_case(rng, n, k)
    pred = (scores >= 0.5).astype(int)
    p, r, f1, _ = precision_recall_fscore_support(labels, pred, average=None, zero_division=0)
    f2 = fbeta_score(labels, pred, beta=2, average=None, zero_division=0)
    got = _rows(scores, labels, CODES)
    for j, c in enumerate(CODES):
        assert got[(c, "precision")] == pytest.approx(p[j], abs=1e-9)
        assert got[(c, "recall")] == pytest.approx(r[j], abs=1e-9)
        assert got[(c, "f1")] == pytest.approx(f1[j], abs=1e-9)
        assert got[(c, "f2")] == pytest.approx(f2[j], abs=1e-9)
    present = labels.sum(0) > 0
    assert got[("Mean", "f1")] == pytest.approx(f1[present].mean(), abs=1e-9)
    assert got[("Mean", "f2")] == pytest.approx(f2[present].mean(), abs=1e-9)


def _official_f2_ciw_and_f1_normal(scores, targets, weights):
    """Written from Sewer-ML's formula, loop by loop: per-class F2 from counts, weighted mean;
    the normal class = rows with no target / no score >= 0.5."""
    n, k = scores.shape
    f2 = []
    for c in range(k):
        tp = sum(1 for i in range(n) if scores[i, c] >= 0.5 and targets[i, c] == 1)
        npred = sum(1 for i in range(n) if scores[i, c] >= 0.5)
        ngt = sum(1 for i in range(n) if targets[i, c] == 1)
        prec = tp / npred if npred else 0.0
        rec = tp / ngt if ngt else 0.0
        f2.append(5 * prec * rec / (4 * prec + rec) if prec + rec else 0.0)
    ciw = sum(w * f for w, f in zip(weights, f2)) / sum(weights)
    gt_normal = [all(targets[i, c] == 0 for c in range(k)) for i in range(n)]
    pr_normal = [all(scores[i, c] < 0.5 for c in range(k)) for i in range(n)]
    tp = sum(g and p for g, p in zip(gt_normal, pr_normal))
    prec = tp / sum(pr_normal) if sum(pr_normal) else 0.0
    rec = tp / sum(gt_normal) if sum(gt_normal) else 0.0
    f1n = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return ciw, f1n


@pytest.mark.parametrize("seed", range(4))
def test_f2_ciw_and_f1_normal_equal_an_independent_implementation(seed):
    rng = np.random.default_rng(100 + seed)
    scores, labels = _random_case(rng, 40, len(CODES))
    weights = [CIW_WEIGHTS[c] for c in CODES]
    ciw, f1n = _official_f2_ciw_and_f1_normal(scores, labels, weights)
    got = _rows(scores, labels, CODES)
    assert got[("F2-CIW", "f2_ciw")] == pytest.approx(ciw, abs=1e-9)
    assert got[("F1-Normal", "f1_normal")] == pytest.approx(f1n, abs=1e-9)
    # a subset of the classes, in another order: weights follow the class names
    sub = ["OK", "RB", "DE"]
    ciw_sub, _ = _official_f2_ciw_and_f1_normal(scores[:, :3], labels[:, :3],
                                                [CIW_WEIGHTS[c] for c in sub])
    assert _rows(scores[:, :3], labels[:, :3], sub)[("F2-CIW", "f2_ciw")] == pytest.approx(ciw_sub)


def test_official_weights_and_edge_cases():
    assert CIW_WEIGHTS["RB"] == 5.55 and CIW_WEIGHTS["OS"] == 5.0 and len(CIW_WEIGHTS) == 17
    labels = np.zeros((4, 2), np.uint8)
    got = _rows(np.zeros((4, 2)), labels, ["RB", "OB"])  # all normal, predicted all normal
    assert got[("F1-Normal", "f1_normal")] == 1.0 and got[("F2-CIW", "f2_ciw")] == 0.0
    assert np.isnan(got[("Mean", "f1")])  # no class has a positive: nothing to average
    # classes without an official weight: no F2-CIW row, the rest is reported
    assert ("F2-CIW", "f2_ciw") not in _rows(np.zeros((4, 2)), labels, ["crack", "RB"])


def test_two_stage_merge_rules_on_hand_built_scores():
    from tasks.classification.two_stage import merge_scores

    p = np.array([0.2, 0.5, 0.9, 0.49])
    s = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.8], [0.99, 0.99]])
    replace = merge_scores(p, s, "replace")
    np.testing.assert_allclose(replace, [[0.2, 0.2], [0.6, 0.4], [0.3, 0.8], [0.49, 0.49]])
    assert not (replace[[0, 3]] >= 0.5).any()  # P(defect) < 0.5: normal, whatever stage 2 says
    np.testing.assert_allclose(merge_scores(p, s, "multiply"), p[:, None] * s)
    assert merge_scores(p, s).tolist() == replace.tolist()  # "replace" is the default
    with pytest.raises(ValueError, match="multiply"):
        merge_scores(p, s, "multiplied")


def test_pos_weight_is_negatives_over_positives():
    from tasks.classification.train import pos_weight

    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], np.uint8)
    np.testing.assert_allclose(pos_weight(labels).numpy(), [1 / 3, 3.0, 1.0])


class _CountingImages(Sequence):
    """A lazy image sequence that records reads and refuses slices (no bulk access)."""

    def __init__(self, images):
        self.images, self.reads = images, 0

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        if not isinstance(i, int):
            raise TypeError("bulk access")
        self.reads += 1
        return self.images[i]


def _toy_data(n=12, k=3, seed=0):
    from bench.datasets.base import Target

    rng = np.random.default_rng(seed)
    labels = (rng.uniform(size=(n, k)) < 0.4).astype(np.uint8)
    labels[0], labels[1] = [1, 0, 1], [0, 1, 0]
    images = []
    for lab in labels:  # class c = a bright band in third c of the image
        im = rng.integers(0, 60, size=(32, 32, 3), dtype=np.uint8)
        for c, on in enumerate(lab):
            if on:
                im[:, c * 10:(c + 1) * 10] += 150
        images.append(im)
    return images, [Target(labels=lab) for lab in labels], ["RB", "OB", "PF"]


@pytest.mark.parametrize("name", ["resnet101", "inception_v3", "two-stage"])
def test_fit_is_seeded_streams_and_round_trips(name, tmp_path, one_thread):
    from tasks import TASK_MODELS
    from tasks.base import FitConfig

    images, targets, classes = _toy_data()
    size = 80 if name == "inception_v3" else 32
    cfg = FitConfig(epochs=2, batch_size=4, lr=1e-3, image_size=size, size="tiny", seed=3)
    runs = []
    for _ in range(2):
        seq = _CountingImages(images)
        model = TASK_MODELS.get(f"classification/{name}")()
        model.fit(seq, targets, classes, cfg)
        passes = 2 if name == "two-stage" else 1  # stage 2 reads the defective images again
        assert seq.reads <= passes * cfg.epochs * len(images)
        runs.append((model, [(r.cls, r.metric, r.value) for r in
                             model.evaluate(_CountingImages(images), targets, classes)]))
    assert runs[0][1] == runs[1][1]  # same seed -> same rows
    assert runs[0][0].history == runs[1][0].history
    runs[0][0].save(tmp_path)
    loaded = TASK_MODELS.get(f"classification/{name}")()
    loaded.load(tmp_path)
    rows = [(r.cls, r.metric, r.value) for r in loaded.evaluate(images, targets, classes)]
    assert rows == runs[0][1]
    metrics = {m for _, m, _ in rows}
    assert {"f1", "f2", "precision", "recall", "f2_ciw", "f1_normal"} == metrics


def test_spec_registers_metrics_and_summary_rows():
    from bench.catalogue import metric_info
    from tasks import TASKS

    spec = TASKS.get("classification")
    for m in ("f1", "f2", "precision", "recall", "f2_ciw", "f1_normal"):
        info = metric_info(m)
        assert info.higher_is_better and info.display_scale == 100.0 and info.unit == "%"
    assert ">= 0.5" in metric_info("f1").description
    assert spec.summary_rows[0] == "Mean" and spec.table_metrics == ("f1",)


def test_delta_table_carries_f2_ciw_and_f1_normal_rows():
    from bench.report.delta import delta_tables
    from tasks import TASKS

    vals = {"HR": 0.6, "LR": 0.4, "SR:edsr": 0.5}
    recs = []
    for v, x in vals.items():
        for cls, metric, val in [("RB", "f1", x), ("OB", "f1", x / 2), ("Mean", "f1", 0.75 * x),
                                 ("RB", "f2", 0.1), ("F2-CIW", "f2_ciw", x + 0.1),
                                 ("F1-Normal", "f1_normal", x + 0.2)]:
            recs.append({"task": "classification", "model": "m", "variant": v, "cls": cls,
                         "metric": metric, "value": val, "seed": 0})
    frame = pd.DataFrame(recs)
    (t,) = delta_tables(frame, "classification", "f1", classes=["RB", "OB"],
                        summary_rows=TASKS.get("classification").summary_rows)
    assert list(t.mean.index) == ["RB", "OB", "Mean", "F2-CIW", "F1-Normal"]
    assert t.mean.loc["F2-CIW", "HR"] == pytest.approx(70.0)
    assert t.mean.loc["F1-Normal", "ΔLR"] == pytest.approx(-20.0)
    assert t.mean.loc["F2-CIW", "ΔSR(edsr)"] == pytest.approx(10.0)
    assert t.summary_rows == ("Mean", "Mean (15)", "MF1", "F2-CIW", "F1-Normal")


def _cls_run(bench_json, out: Path, *extra: str):
    return bench_json("run", "--task", "classification", "--profile", "smoke",
                      "--executor", "local", "--out", str(out), *extra)


@pytest.mark.slow
def test_bench_run_classification_smoke_resumes_and_reads_sewerml(bench_cli, bench_json, tmp_path):
    first = _cls_run(bench_json, tmp_path / "runs")
    assert set(first["tables"]) == {"inception_v3", "resnet101", "two-stage"}
    table = first["tables"]["resnet101"]["mean"]
    assert {"Mean", "F2-CIW", "F1-Normal", "RB", "OK"} <= set(table)
    again = _cls_run(bench_json, tmp_path / "runs")  # rerun: nothing recomputed
    assert again["summary"]["cells_computed"] == 0
    assert again["tables"] == first["tables"]
    run_dir = Path(first["files"][0]).parents[1]
    assert bench_json("table", "--run", str(run_dir))["tables"] == first["tables"]
    baseline = tmp_path / "baseline.csv"
    code, _, err = bench_cli("check", "--run", str(run_dir), "--baseline", str(baseline),
                             "--write-baseline")
    assert code == 0, err
    assert {"f1", "f2", "precision", "recall", "f2_ciw", "f1_normal"} <= set(
        pd.read_csv(baseline)["metric"])
    code, out, err = bench_cli("check", "--run", str(run_dir), "--baseline", str(baseline))
    assert code == 0 and "ok" in out, (out, err)

    folder = tmp_path / "sewerml"
    bench_json("synth", "--view", "cls", "--out", str(folder), "--n-train", "12", "--n-val",
               "2", "--n-test", "4")
    real = _cls_run(bench_json, tmp_path / "runs-sewerml", "--dataset", "sewerml",
                    "--data-root", str(folder), "--model", "resnet101", "--model", "two-stage")
    for m in ("resnet101", "two-stage"):  # the same numbers; the titles name each dataset
        assert "on sewerml" in real["tables"][m]["title"]
        assert ({k: v for k, v in real["tables"][m].items() if k != "title"}
                == {k: v for k, v in first["tables"][m].items() if k != "title"})


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_equals_uninterrupted(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys

    args = ["run", "--task", "classification", "--profile", "smoke", "--json"]

    def run(out: str, cache: str, **env):
        return subprocess.run([sys.executable, "-m", "bench.cli", *args, "--out", str(tmp_path / out)],
                              env={**os.environ, "SEWER_BENCH_CACHE": str(tmp_path / cache), **env},
                              capture_output=True, text=True, timeout=900)

    def rows(out: str) -> dict:
        frame = pd.concat(pd.read_csv(p) for p in (tmp_path / out).glob("*/rows/*.csv"))
        assert not frame.duplicated(["model", "variant", "cls", "metric", "seed"]).any()
        return {(r.model, r.variant, r.cls, r.metric): r.value for r in frame.itertuples()}

    killed = run("a", "cache-a", SEWER_BENCH_KILL_AFTER_CELLS="4")  # mid-way through model 2
    assert killed.returncode == -signal.SIGKILL
    resumed = run("a", "cache-a")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["summary"]["cells_computed"] == 5
    clean = run("b", "cache-b")
    assert clean.returncode == 0, clean.stderr
    assert rows("a") == rows("b")


def test_two_stage_settings_build_the_model_that_uses_them(one_thread):
    """The config's strings (task.model_options.two-stage) -> the stage networks and the rule
    the model applies: its scores equal merge_scores(stage 1, stage 2, rule)."""
    from tasks import TASK_MODELS
    from tasks.base import FitConfig
    from tasks.classification.spec import SPEC
    from tasks.classification.train import predict_scores
    from tasks.classification.two_stage import merge_scores

    allowed = SPEC.model_settings["two-stage"]
    assert allowed["merge"][0] == "replace" and allowed["stage1"][0] == "resnet101"
    images, targets, classes = _toy_data()
    cfg = FitConfig(epochs=1, batch_size=4, lr=1e-3, image_size=80, size="tiny", seed=0)
    model = TASK_MODELS.get("classification/two-stage")(
        merge="multiply", stage1="resnet101", stage2="inception_v3:tiny")
    model.fit(images, targets, classes, cfg)
    assert model.meta["merge"] == "multiply"
    assert model.meta["stage1"] == ["resnet101", "tiny"]  # bare name: the run's preset
    assert model.meta["stage2"] == ["inception_v3", "tiny"]
    assert type(model.nets["stage2"]).__name__ == "InceptionV3"
    got = np.concatenate(list(model.predict_scores(images)))
    (p,) = predict_scores(model.nets["stage1"], images, image_size=80, device="cpu",
                          batch_size=len(images))
    (c,) = predict_scores(model.nets["stage2"], images, image_size=80, device="cpu",
                          batch_size=len(images))
    np.testing.assert_allclose(got, merge_scores(p[:, 0], c, "multiply"))
    assert not np.allclose(got, merge_scores(p[:, 0], c, "replace"))
    with pytest.raises(ValueError, match="Did you mean 'inception_v3'"):
        TASK_MODELS.get("classification/two-stage")(stage1="inception")


@pytest.mark.parametrize("option, expected", [
    ("{merge: multiplyy}", ("task.model_options.two-stage.merge: 'multiplyy' is not one of "
                            "replace, multiply. Did you mean 'multiply'")),
    ("{stage2: 'resnet101:smal'}", ("task.model_options.two-stage.stage2: 'resnet101:smal' "
                                    "is not one of")),
    ("{merg: multiply}", ("task.model_options.two-stage: unknown key(s) merg; Did you mean "
                          "'merge'?")),
])
def test_bad_two_stage_setting_is_one_line_exit_2(bench_cli, tmp_path, option, expected):
    code, _, err = bench_cli("run", "--task", "classification", "--profile", "smoke",
                             "--model", "two-stage", "--out", str(tmp_path / "runs"),
                             "--set", f"task.model_options.two-stage={option}")
    assert code == 2 and expected in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not list((tmp_path / "runs").rglob("rows/*.csv"))


@pytest.mark.slow
def test_two_stage_settings_from_config_key_the_cached_model(bench_json, tmp_path, monkeypatch):
    """Config -> model: the cached model carries the configured rule and stages; another
    rule is another cached model (trained again, never the stale one)."""
    import json

    cache = tmp_path / "cache"
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(cache))
    opts = ("--model", "two-stage", "--set",
            "task.model_options.two-stage={merge: multiply, stage2: 'resnet101:small'}")
    dry = _cls_run(bench_json, tmp_path / "runs", *opts, "--dry-run")
    assert dry["groups"][0]["settings"] == {"merge": "multiply", "stage1": "resnet101",
                                            "stage2": "resnet101:small"}
    first = _cls_run(bench_json, tmp_path / "runs", *opts)
    assert first["summary"]["cache"]["task_trained"] == 1
    metas = [m for m in (json.loads(p.read_text()) for p in cache.rglob("model.json"))
             if m.get("model") == "two-stage"]
    assert [(m["merge"], m["stage1"], m["stage2"]) for m in metas] == [
        ("multiply", ["resnet101", "tiny"], ["resnet101", "small"])]
    default = _cls_run(bench_json, tmp_path / "runs", "--model", "two-stage")
    assert default["summary"]["cache"]["task_trained"] == 1  # not the multiply model
    merges = sorted(m["merge"] for m in (json.loads(p.read_text())
                                         for p in cache.rglob("model.json"))
                    if m.get("model") == "two-stage")
    assert merges == ["multiply", "replace"]


def test_inception_stage_below_75_px_is_a_config_error():
    from bench.errors import ConfigError
    from tasks.base import FitConfig
    from tasks.classification.models import InceptionV3Model
    from tasks.classification.two_stage import TwoStageModel

    images, targets, classes = _toy_data(n=4)
    cfg = FitConfig(epochs=1, batch_size=2, lr=1e-3, image_size=64, size="tiny", seed=0)
    for model in (TwoStageModel(stage2="inception_v3"), InceptionV3Model()):
        with pytest.raises(ConfigError, match="inception_v3 needs >= 75 px input, got 64"):
            model.fit(images, targets, classes, cfg)
