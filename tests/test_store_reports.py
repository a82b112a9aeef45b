"""ResultStore (atomic cells, manifest), Δ tables and the regression check, on known rows."""
import io
import json

import pandas as pd
import pytest

from bench.report.check import check, compare, read_baseline, write_baseline
from bench.report.delta import (delta_tables, legend, rich_tables, table_json, to_latex,
                                to_markdown, write_tables)
from bench.store import ResultStore, Row, load_runs
from bench.errors import DataError

IOU = {  # variant -> class -> IoU, one seed
    "HR": {"JO": 0.60, "IL": 0.40, "Mean": 0.50, "background": 0.95},
    "LR": {"JO": 0.50, "IL": 0.20, "Mean": 0.35, "background": 0.93},
    "SR:edsr": {"JO": 0.55, "IL": 0.35, "Mean": 0.45, "background": 0.94},
}


def _fill(store: ResultStore, seeds=(0,), jitter=0.0):
    store.write_manifest({"seeds": list(seeds)}, device="cpu", command="test",
                         extra={"task": "segmentation", "classes": ["JO", "IL"]})
    for seed in seeds:
        for variant, per_cls in IOU.items():
            rows = [Row(store.run_id, "d", "segmentation", "fcn", variant, c, "iou",
                        v + jitter * seed, seed) for c, v in per_cls.items()]
            store.append(f"fcn-{seed}-{variant.replace(':', '_')}", rows)


def test_store_roundtrip_manifest_and_idempotent_cells(tmp_path):
    store = ResultStore(tmp_path / "run1")
    _fill(store)
    frame = store.load()
    assert len(frame) == 12 and set(frame["variant"]) == set(IOU)
    _fill(store)  # appending finished cells again adds nothing
    assert len(store.load()) == 12
    manifest = json.loads((tmp_path / "run1" / "manifest.json").read_text())
    assert manifest["device"] == "cpu" and "torch" in manifest["packages"] and manifest["git_commit"]
    assert not list((tmp_path / "run1").rglob(".tmp-*"))
    assert len(load_runs(tmp_path)) == 12
    # a temp file left by a write killed mid-way is not a cell
    (tmp_path / "run1" / "rows" / ".tmp-half.csv").write_text("run,dataset\nx,")
    assert len(store.load()) == 12 and ".tmp-half" not in store.done_cells()


def test_delta_table_signs_and_shape(tmp_path):
    store = ResultStore(tmp_path / "r")
    _fill(store)
    (t,) = delta_tables(store.load(), "segmentation", "iou", classes=["JO", "IL"], backends=["edsr"])
    assert list(t.mean.index) == ["JO", "IL", "Mean", "background"]
    assert list(t.mean.columns) == ["LR", "SR(edsr)", "HR", "ΔLR", "ΔSR(edsr)", "ΔHR(edsr)"]
    jo = t.mean.loc["JO"]
    assert jo["LR"] == pytest.approx(50.0) and jo["HR"] == pytest.approx(60.0)
    assert jo["ΔLR"] == pytest.approx(-10.0)       # LR - HR
    assert jo["ΔSR(edsr)"] == pytest.approx(5.0)   # SR - LR
    assert jo["ΔHR(edsr)"] == pytest.approx(5.0)   # HR - SR
    md = to_markdown(t, "title")
    assert "| JO | 50.00 | 55.00 | 60.00 |" in md            # values table
    assert "| JO | -10.00 | 5.00 | 5.00 | 50% |" in md       # Δ table + gap closure
    assert r"$\Delta$LR" in to_latex(t, "title")
    paths = write_tables([t], tmp_path / "tables", "segmentation", "d")
    assert all(p.exists() for p in paths)
    csv = pd.read_csv(tmp_path / "tables" / "segmentation-fcn-iou.csv", index_col=0)
    assert csv.loc["IL", "ΔSR(edsr)"] == pytest.approx(15.0)


def test_delta_table_seeds_mean_std(tmp_path):
    store = ResultStore(tmp_path / "r")
    _fill(store, seeds=(0, 1, 2), jitter=0.01)
    (t,) = delta_tables(store.load(), "segmentation", "iou", classes=["JO", "IL"])
    assert t.n_seeds == 3
    assert t.mean.loc["JO", "HR"] == pytest.approx(61.0)      # 60, 61, 62
    assert t.std.loc["JO", "HR"] == pytest.approx(1.0)
    assert t.std.loc["JO", "ΔLR"] == pytest.approx(0.0, abs=1e-9)  # same jitter cancels
    assert "±" in t.formatted().loc["JO", "HR"]


def test_check_flags_regressions_and_missing(tmp_path):
    store = ResultStore(tmp_path / "r")
    _fill(store)
    base_path = tmp_path / "baseline.csv"
    assert write_baseline(store.load(), base_path) == 12
    base = read_baseline(base_path)
    assert compare(store.load(), base) == []
    base.loc[(base["variant"] == "HR") & (base["cls"] == "JO"), "value"] = 0.70
    extra = base.iloc[[0]].assign(model="deeplab")
    # tolerances are in the units the tables print: IoU in %, so 5 = five points
    findings = compare(store.load(), pd.concat([base, extra]), tolerance=5)
    kinds = sorted(f.kind for f in findings)
    assert kinds == ["missing", "regression"]
    text = [f.describe() for f in findings if f.kind == "regression"][0]
    assert "segmentation/fcn/HR/JO/iou = 60.0000 %, baseline 70.0000 %" in text
    assert "-10.0000 points" in text
    assert compare(store.load(), base, tolerance=11) == []         # 10 points <= 11
    assert compare(store.load(), base, tolerance=0.11) != []       # not a fraction any more
    assert compare(store.load(), base, rel_tolerance=0.2) == []     # 10 <= 0.2 * 70
    report = check(store.load(), pd.concat([base, extra]), tolerance=5)
    assert report.compared == 12 and not report.ok
    assert "compared 12 metric(s) (iou in %" in report.summary()
    assert "1 regressed, 1 missing" in report.summary()


def test_check_bad_baseline_names_file_and_line(tmp_path):
    bad = tmp_path / "b.csv"
    bad.write_text("task,model,variant,cls,metric,value\nsegmentation,fcn,HR,JO,iou,abc\n")
    with pytest.raises(DataError, match=r"b.csv: line 2: column 'value' is 'abc'"):
        read_baseline(bad)
    bad.write_text("task,model,value\n")
    with pytest.raises(DataError, match="missing column"):
        read_baseline(bad)


def _bicubic_store(tmp_path, backends=("edsr",), seeds=(0,)):
    """IOU plus SR:bicubic == LR (by construction) and extra backends."""
    store = ResultStore(tmp_path / "b")
    store.write_manifest({}, device="cpu", command="test", extra={"task": "segmentation"})
    variants = {**IOU, "SR:bicubic": IOU["LR"]}
    for i, b in enumerate(backends[1:]):
        variants[f"SR:{b}"] = {c: v + 0.01 * (i + 1) for c, v in IOU["SR:edsr"].items()}
    for seed in seeds:
        for variant, per_cls in variants.items():
            store.append(f"fcn-{seed}-{variant.replace(':', '_')}",
                         [Row(store.run_id, "d", "segmentation", "fcn", variant, c, "iou",
                              v + 0.003 * seed, seed) for c, v in per_cls.items()])
    return store


def test_gap_closure_per_class_and_undefined_without_a_loss(tmp_path):
    store = ResultStore(tmp_path / "r")
    _fill(store)
    (t,) = delta_tables(store.load(), "segmentation", "iou", classes=["JO", "IL"], backends=["edsr"])
    # (SR - LR) / (HR - LR): JO (55-50)/(60-50), IL (35-20)/(40-20)
    assert t.gap.loc["JO", "edsr"] == pytest.approx(0.5)
    assert t.gap.loc["IL", "edsr"] == pytest.approx(0.75)
    assert t.gap.loc["Mean", "edsr"] == pytest.approx((45 - 35) / (50 - 35))
    frame = store.load()
    # HR == LR for JO: undefined, never a division by ~0
    frame.loc[(frame["variant"] == "HR") & (frame["cls"] == "JO"), "value"] = 0.50
    (t,) = delta_tables(frame, "segmentation", "iou", classes=["JO", "IL"], backends=["edsr"])
    assert t.gap["edsr"].isna()["JO"]
    assert table_json(t)["gap_closure"]["JO"]["edsr"] is None
    assert "| JO | 0.00 | 5.00 | -5.00 | – |" in to_markdown(t, "x")
    assert "– where HR − LR < 0.1 points" in legend(t)


def test_bicubic_equal_to_lr_is_shown_once(tmp_path):
    store = _bicubic_store(tmp_path)
    (t,) = delta_tables(store.load(), "segmentation", "iou", classes=["JO", "IL"],
                        backends=["bicubic", "edsr"])
    assert t.same_as_lr == ("bicubic",) and t.shown_backends == ["edsr"]
    assert "SR(bicubic)" in t.mean.columns               # the data keeps every column
    md = to_markdown(t, "x")
    assert "SR(bicubic)" not in md.split("\n\n")[1] and "ΔSR(bicubic)" not in md
    assert "SR(bicubic) equals LR in every row" in md and "says nothing about why" in md
    assert table_json(t)["same_as_lr"] == ["bicubic"]


@pytest.mark.parametrize("n_backends,seeds", [(1, (0,)), (4, (0,)), (2, (0, 1, 2))])
def test_delta_tables_fit_80_columns_without_truncated_headers(tmp_path, n_backends, seeds):
    from rich.console import Console

    backends = ("edsr", "dsrnet-plus", "atd-light", "rcan")[:n_backends]
    store = _bicubic_store(tmp_path, backends, seeds)
    (t,) = delta_tables(store.load(), "segmentation", "iou", classes=["JO", "IL"],
                        backends=["bicubic", *backends])
    console = Console(width=80, record=True, file=io.StringIO())
    for r in rich_tables(t, "fcn segmentation on d: iou (%), 1 seed(s)", 80):
        console.print(r)
    text = console.export_text()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for b in backends:  # every backend's columns are there, told apart by full name
        assert text.count(b) >= 4                          # SR, ΔSR, ΔHR, GC headers
    assert "bicubic" not in text                           # shown once, as LR (legend says so)


def test_heartbeat_reports_at_least_once_a_minute_with_eta():
    from bench.console import Heartbeat

    now = [0.0]
    lines: list[str] = []
    beat = Heartbeat("train-sr edsr", 600, clock=lambda: now[0], emit=lines.append)
    for step in range(1, 601):          # one step per second of (fake) work: 10 minutes
        now[0] += 1.0
        beat.update(step, "loss 0.1")
    assert len(lines) >= 10                                # >= one line per minute
    times = [0.0] + [float(i) for i in range(30, 601, 30)][:len(lines)]
    assert max(b - a for a, b in zip(times, times[1:])) <= 60
    assert lines[0].startswith("train-sr edsr: step 30/600 (5%), 30 s elapsed, ETA 9 min 30 s")
    assert lines[0].endswith("; loss 0.1")
    assert beat.update(600) is False                       # not again within the interval


def test_heartbeat_carries_over_between_short_stages():
    from bench.console import Heartbeat

    now = [0.0]
    lines: list[str] = []
    beat = None
    for stage in range(8):              # 8 stages of 20 s each, 2 steps per stage
        last = beat.last_line if beat is not None else None
        beat = Heartbeat(f"stage {stage}", 2, clock=lambda: now[0], emit=lines.append,
                         last_line=last)
        for step in (1, 2):
            now[0] += 10.0
            beat.update(step)
    assert len(lines) >= 160 // 30 - 1   # a line every 30 s although no stage lasts 30 s
