"""Paired bootstrap intervals (bench/stats): agreement with scipy, coverage, pairing, and
intervals that are a pure function of the store (recomputed, copied, killed mid-way)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from bench.stats.bootstrap import Settings, resample_counts, rng_for, two_level
from bench.stats.intervals import NotPaired, Resampled, table_intervals
from bench.store import ResultStore, Row
from tasks.segmentation.metrics import SegmentationEvaluator, SegmentationReplay

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["JO", "IL"]


def _replay(counts: np.ndarray, ids=None) -> SegmentationReplay:
    n = len(counts)
    return SegmentationReplay({"counts": counts, "image_ids": np.array(ids or range(n), str)},
                              CLASSES)


def _counts(rng, n, quality):
    """(n, 3 classes, 3) TP/FP/FN per image; `quality` shifts TP against FP+FN."""
    size = rng.integers(50, 400, (n, 3))
    tp = rng.binomial(size, quality)
    return np.stack([tp, rng.binomial(size - tp, 0.5), size - tp - rng.binomial(size - tp, 0.5)],
                    axis=2)


def test_resample_counts_are_multinomial_rows():
    w = resample_counts(7, 500, rng_for(Settings(), 3))
    assert w.shape == (500, 7) and (w.sum(1) == 7).all()
    assert np.array_equal(w, resample_counts(7, 500, rng_for(Settings(), 3)))  # deterministic
    assert not np.array_equal(w, resample_counts(7, 500, rng_for(Settings(), 4)))


def test_interval_agrees_with_scipy_paired_percentile():
    rng = np.random.default_rng(0)
    n = 60
    hr, lr = _counts(rng, n, 0.7), _counts(rng, n, 0.6)
    settings = Settings(bootstrap=10_000, level=0.95, seed=1)
    res = Resampled({0: {"HR": _replay(hr), "LR": _replay(lr)}}, settings)
    iv = table_intervals(res, ["JO", "Mean"], "iou", {}, [], 1.0, 1.0)

    def delta(tl, fl, nl, th, fh, nh, axis=-1):  # ΔLR of class JO = IoU(LR) - IoU(HR)
        iou = lambda t, f, m: t.sum(axis) / (t + f + m).sum(axis)  # noqa: E731
        return iou(tl, fl, nl) - iou(th, fh, nh)

    data = (*(lr[:, 1, j] for j in range(3)), *(hr[:, 1, j] for j in range(3)))
    ref = sps.bootstrap(data, delta, paired=True, vectorized=True, n_resamples=10_000,
                        method="percentile", confidence_level=0.95,
                        random_state=np.random.default_rng(5))
    x = res.variant("LR", [("JO", "iou")])[:, 0] - res.variant("HR", [("JO", "iou")])[:, 0]
    sd = x.std()
    tol = 0.15 * sd  # ~4 Monte-Carlo standard errors of a 2.5% quantile at B = 10,000, twice
    assert abs(iv.lo.loc["JO", "ΔLR"] - ref.confidence_interval.low) < tol
    assert abs(iv.hi.loc["JO", "ΔLR"] - ref.confidence_interval.high) < tol
    assert iv.lo.loc["JO", "ΔLR"] < iv.hi.loc["JO", "ΔLR"]


def test_coverage_of_95_percent_intervals():
    """A synthetic population with a known IoU: >= 93% of 200 intervals cover it."""
    n, sims = 150, 200
    p_size, p_tp, p_fp = 200.0, 0.6, 0.5
    truth = p_tp / 1.0  # E[TP] / E[TP + FP + FN] = p_tp * S / S
    covered = 0
    for sim in range(sims):
        rng = np.random.default_rng(1000 + sim)
        size = rng.poisson(p_size * rng.gamma(2.0, 0.5, n))[:, None] * np.ones((1, 3), int)
        tp = rng.binomial(size, p_tp)
        fp = rng.binomial(size - tp, p_fp)
        counts = np.stack([tp, fp, size - tp - fp], axis=2)
        res = Resampled({0: {"HR": _replay(counts)}}, Settings(bootstrap=1000, seed=sim))
        iv = table_intervals(res, ["JO"], "iou", {}, [], 1.0, 1.0)
        covered += iv.lo.loc["JO", "HR"] <= truth <= iv.hi.loc["JO", "HR"]
    assert covered >= 0.93 * sims, covered


class _Recorder:
    keys = [("JO", "iou")]

    def __init__(self, ids):
        self.ids, self.seen = ids, []

    def values(self, w):
        self.seen.append(np.array(w))
        return w[:, :1].astype(float)

    def instances(self):
        return {}


def test_resampling_is_paired_across_variants_and_seeded_per_seed():
    ids = [str(i) for i in range(9)]
    reps = {s: {v: _Recorder(ids) for v in ("HR", "LR", "SR:edsr")} for s in (0, 1)}
    Resampled(reps, Settings(bootstrap=50))
    for s in (0, 1):
        hr, lr, sr = (reps[s][v].seen[0] for v in ("HR", "LR", "SR:edsr"))
        assert np.array_equal(hr, lr) and np.array_equal(hr, sr)
    assert not np.array_equal(reps[0]["HR"].seen[0], reps[1]["HR"].seen[0])
    with pytest.raises(NotPaired):
        Resampled({0: {"HR": _Recorder(ids), "LR": _Recorder(ids[::-1])}}, Settings())


def test_two_level_resamples_seeds_then_images():
    per_seed = [np.full((4, 1), float(s)) for s in range(3)]
    draws = np.array([[0, 0, 0], [2, 2, 2], [0, 1, 2], [1, 1, 2]])
    out = two_level(per_seed, draws)
    assert out[:, 0].tolist() == [0.0, 2.0, 1.0, pytest.approx(4 / 3)]


# ------------------------------------------------------------------ from the store alone
def _run_folder(root: Path, seeds=(0,)) -> Path:
    """A run folder as `bench run` writes it: rows + states of HR, LR, SR:edsr per seed."""
    store = ResultStore(root / "segmentation-synthsewer-pipe-abc")
    store.write_manifest({"profile": "smoke", "task": {"models": ["fcn"], "size": "tiny"},
                          "data": {"n_test": 24}}, device="cpu", command="test",
                         extra={"task": "segmentation", "dataset": "synthsewer-pipe",
                                "classes": CLASSES, "backends": ["edsr"],
                                "model_labels": {"fcn": "FCN tiny"}})
    rng = np.random.default_rng(7)
    targets = [rng.choice([0, 0, 1, 2], (12, 12)) for _ in range(24)]
    for seed in seeds:
        for variant, noise in (("HR", 0.1), ("LR", 0.5), ("SR:edsr", 0.3)):
            ev = SegmentationEvaluator(CLASSES)
            preds = [np.where(rng.random(t.shape) < noise, rng.integers(0, 3, t.shape), t)
                     for t in targets]
            ev.update(preds, targets)
            rows = [Row(store.run_id, "synthsewer-pipe", "segmentation", "fcn", variant, r.cls,
                        r.metric, r.value, seed) for r in ev.compute()]
            store.append(f"fcn-{seed}-{variant.replace(':', '_')}", rows, state=ev.state())
    return store.run_dir


def _table(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "bench.cli", "table", "--run", str(run_dir),
                           *extra], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def _files(run_dir: Path) -> dict[str, bytes]:
    """The tables a reader sees (a killed writer's '.tmp-*' is never one of them)."""
    return {p.name: p.read_bytes() for p in sorted((run_dir / "tables").iterdir())
            if not p.name.startswith(".")}


def test_intervals_from_the_store_equal_the_printed_ones_and_survive_a_copy(tmp_path):
    from bench.commands.run import print_tables, resampled_states

    run_dir = _run_folder(tmp_path / "a", seeds=(0, 1, 2))
    printed = print_tables(run_dir, as_json=True)["tables"]["fcn"]
    iv = printed["interval"]
    assert "two-level over 3 seeds" in iv["method"]
    # recomputed directly from the stored states
    store = ResultStore(run_dir)
    res = resampled_states(store, "segmentation", CLASSES, Settings())["fcn"]
    direct = table_intervals(res, ["JO", "IL", "Mean", "background"], "iou", {}, ["edsr"],
                             1.0, 100.0, {"edsr": "SR:edsr"})
    assert iv["lo"]["JO"]["ΔSR(edsr)"] == round(direct.lo.loc["JO", "ΔSR(edsr)"], 4)
    assert iv["hi"]["Mean"]["HR"] == round(direct.hi.loc["Mean", "HR"], 4)
    md = (run_dir / "tables" / "segmentation-fcn-iou.md").read_text()
    assert "FCN tiny" in md and "profile smoke" in md and "24 test images" in md
    assert f"{direct.lo.loc['JO', 'HR']:.2f}, {direct.hi.loc['JO', 'HR']:.2f}]" in md
    side = json.loads((run_dir / "tables" / "segmentation-fcn-iou.csv.json").read_text())
    assert side["unit"] == "%" and "fraction" in side["columns"]
    # the same folder elsewhere gives the same tables
    copy = tmp_path / "elsewhere" / run_dir.name
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "tables")
    print_tables(copy, as_json=True)
    assert _files(copy) == _files(run_dir)


def test_kill_while_intervals_are_computed_then_rerun_is_identical(tmp_path):
    run_dir = _run_folder(tmp_path / "k", seeds=(0, 1, 2))
    ref = _table(run_dir, "--json")
    assert ref.returncode == 0, ref.stderr
    expected = _files(run_dir)
    killed = 0
    # at the 2nd atomic write (intervals computed, tables half written), then at a few times
    # while the process imports, resamples and writes
    for delay, env_extra in ((None, {"SEWER_BENCH_KILL_AT_WRITE": "2"}), (0.8, {}), (1.6, {}),
                             (2.4, {})):
        shutil.rmtree(run_dir / "tables", ignore_errors=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), **env_extra}
        proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "table", "--run",
                                 str(run_dir), "--json"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        if delay is not None:
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        killed += proc.wait() == -signal.SIGKILL
        again = _table(run_dir, "--json")
        assert again.returncode == 0, again.stderr
        assert _files(run_dir) == expected
        assert json.loads(again.stdout)["tables"] == json.loads(ref.stdout)["tables"]
    assert killed >= 1


def test_bad_stats_settings_are_one_line_exit_2(tmp_path):
    for bad in ("stats.bootstrap=0", "stats.level=1", "stats.level=0"):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-m", "bench.cli", "run", "--dry-run", "--set",
                              bad, "--out", str(tmp_path)], capture_output=True, text=True,
                             env=env, cwd=ROOT, timeout=120)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert f"stats.{bad.split('.')[1].split('=')[0]}" in out.stderr


def test_a_run_without_states_still_gets_its_tables(tmp_path):
    from bench.commands.run import print_tables

    run_dir = _run_folder(tmp_path / "old")
    for p in (run_dir / "rows").glob("*.state.npz"):
        p.unlink()
    table = print_tables(run_dir, as_json=True)["tables"]["fcn"]
    assert "interval" not in table and table["mean"]["JO"]["HR"] > 0
    assert "No intervals" in (run_dir / "tables" / "segmentation-fcn-iou.md").read_text()


def test_study_resolution_summary_is_the_tables_delta_lr_negated(tmp_path):
    """The study report's 'does resolution matter' row: HR − LR of the Mean, whose interval
    is the Δ table's ΔLR interval with the sign flipped (the same paired replicates)."""
    from bench.commands.run import print_tables
    from bench.report.study import resolution_markdown, resolution_rows

    run_dir = _run_folder(tmp_path, seeds=(0, 1, 2))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["config"]["degradation"] = {"scale": 2, "blur_sigma": 1.0}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    iv = print_tables(run_dir, as_json=True)["tables"]["fcn"]["interval"]
    frame = resolution_rows({"segmentation": run_dir})
    (row,) = frame.itertuples()
    assert (row.task, row.model, row.metric, row.seeds) == ("segmentation", "fcn", "iou", 3)
    assert row.degradation == "x2+blur1"  # the row names the degradation that ran
    rows = ResultStore(run_dir).load()
    mean = rows[(rows["cls"] == "Mean") & (rows["metric"] == "iou")].groupby("variant")["value"].mean()
    assert row.HR == pytest.approx(100 * mean["HR"]) and row.LR == pytest.approx(100 * mean["LR"])
    assert row.loss == pytest.approx(100 * (mean["HR"] - mean["LR"])) and row.loss > 0
    assert row.lo == pytest.approx(-iv["hi"]["Mean"]["ΔLR"], abs=1e-4)
    assert row.hi == pytest.approx(-iv["lo"]["Mean"]["ΔLR"], abs=1e-4)
    assert row.lo > 0  # HR (10 % noise) is clearly better than LR (50 %)
    md = resolution_markdown(frame)
    assert f"| x2+blur1 | {row.HR:.2f} | {row.LR:.2f} | {row.loss:+.2f} | [{row.lo:+.2f}, " \
        f"{row.hi:+.2f}] | 3 |" in md
