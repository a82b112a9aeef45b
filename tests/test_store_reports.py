"""ResultStore (atomic cells, manifest), Δ tables and the regression check, on known rows."""
import json

import pandas as pd
import pytest

from bench.report.check import compare, read_baseline, write_baseline
from bench.report.delta import delta_tables, to_latex, to_markdown, write_tables
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
    assert "| JO | 50.00 | 55.00 | 60.00 | -10.00 | 5.00 | 5.00 |" in md
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
    findings = compare(store.load(), pd.concat([base, extra]), tolerance=0.05)
    kinds = sorted(f.kind for f in findings)
    assert kinds == ["missing", "regression"]
    assert "segmentation/fcn/HR/JO/iou" in [f.describe() for f in findings if f.kind == "regression"][0]
    assert compare(store.load(), base, tolerance=0.11) == []       # within tolerance
    assert compare(store.load(), base, rel_tolerance=0.2) == []     # 0.1 <= 0.2 * 0.7


def test_check_bad_baseline_names_file_and_line(tmp_path):
    bad = tmp_path / "b.csv"
    bad.write_text("task,model,variant,cls,metric,value\nsegmentation,fcn,HR,JO,iou,abc\n")
    with pytest.raises(DataError, match=r"b.csv: line 2: column 'value' is 'abc'"):
        read_baseline(bad)
    bad.write_text("task,model,value\n")
    with pytest.raises(DataError, match="missing column"):
        read_baseline(bad)
