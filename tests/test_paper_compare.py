"""`bench paper-compare`: our run's Δ signs beside the paper's, on a tiny synthetic run folder
(rows CSVs written here; no training) and on the committed quick study."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.report.paper_compare import compare, load_ours

ROOT = Path(__file__).resolve().parents[1]
COLS = ["run", "dataset", "task", "model", "variant", "cls", "metric", "value", "seed",
        "protocol", "ref_policy", "higher_is_better"]
# IoU fractions per class: LR, SR:dsrnet-plus, SR:atd-light, HR
VALUES = {"JO": (0.50, 0.55, 0.48, 0.60), "IL": (0.30, 0.40, 0.35, 0.38),
          "IN": (0.40, 0.41, 0.42, 0.45)}


def _write_run(folder: Path) -> Path:
    run = folder / "run1"
    (run / "rows").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps(
        {"run": "run1", "task": "segmentation", "classes": list(VALUES), "seeds": [0]}))
    rows = []
    variants = ("LR", "SR:dsrnet-plus", "SR:atd-light", "HR")
    for cls, vals in VALUES.items():
        for variant, v in zip(variants, vals):
            rows.append(["run1", "synthsewer-pipe", "segmentation", "fcn", variant, cls, "iou", v,
                         0, "train-on-hr", "self", True])
    for variant, k in zip(variants, range(4)):
        mean = sum(v[k] for v in VALUES.values()) / 3
        rows.append(["run1", "synthsewer-pipe", "segmentation", "fcn", variant, "Mean", "iou",
                     mean, 0, "train-on-hr", "self", True])
    pd.DataFrame(rows, columns=COLS).to_csv(run / "rows" / "cell.csv", index=False)
    return run


def test_signs_on_a_synthetic_run(tmp_path):
    frame = compare(load_ours(_write_run(tmp_path)))
    assert set(frame["table"]) == {3}  # only FCN rows in the run
    assert set(frame["ours_column"]) >= {"SR(dsrnet-plus)", "SR(atd-light)"}

    def cell(cls, delta):
        return frame[(frame["class"] == cls) & (frame["delta"] == delta)].iloc[0]

    # JO: ours ΔSR(D) = 55 - 50 = +5, paper +2.59 -> agree; ours ΔSR(A) = -2, paper -0.16 -> agree
    assert cell("JO", "ΔSR(D)")["ours"] == pytest.approx(5.0)
    assert cell("JO", "ΔSR(D)")["agree"] == "yes"
    assert cell("JO", "ΔSR(A)")["agree"] == "yes"
    # IL: ours ΔHR(D) = 38 - 40 = -2, paper +4.59 -> disagree
    assert cell("IL", "ΔHR(D)")["ours"] == pytest.approx(-2.0) and cell("IL", "ΔHR(D)")["agree"] == "no"
    # IN: ours ΔSR(A) = +2, paper -8.98 -> disagree
    assert cell("IN", "ΔSR(A)")["agree"] == "no"
    # every paper number is the paper's, printed and recomputed side by side; the Mean row's
    # reference is the mean of the paper's class rows (Table 3's printed Mean is not)
    mean_lr = cell("Mean", "ΔLR")
    assert mean_lr["paper_printed"] == "-6.47" and mean_lr["paper_from_rows"] == pytest.approx(-10.57)


def test_cli_writes_markdown_and_csv(tmp_path, capsys):
    run = _write_run(tmp_path)
    assert main(["paper-compare", "--run", str(run), "--write", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "Table 3: FCN defect semantic segmentation results (mIoU%). (paper)" in out
    assert "paper, printed" in out and "D = DSRNet, A = ATD" in out
    assert "signs agree for" in out
    written = pd.read_csv(tmp_path / "rep" / "paper-compare.csv")
    assert len(written) == 4 * 5
    assert main(["paper-compare", "--run", str(run), "--map", "D=atd-light", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    d_cols = {r["ours_column"] for r in data["rows"] if r["delta"] == "ΔSR(D)"}
    assert d_cols == {"SR(atd-light)"}


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert main(["paper-compare", "--run", str(tmp_path)]) == 2
    assert "neither a run folder" in capsys.readouterr().err
    assert main(["paper-compare", "--run", str(tmp_path), "--map", "B=edsr"]) == 2
    assert "D (DSRNet) and A (ATD)" in capsys.readouterr().err


def test_runs_on_the_committed_quick_study(capsys):
    args = ["paper-compare", "--map", "D=edsr"]
    for name in ("segmentation-quick", "detection-quick", "classification-quick"):
        args += ["--run", str(ROOT / "results" / name)]
    assert main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    tables = {r["table"] for r in data["rows"]}
    assert {3, 4, 5, 6, 8, 9} <= tables
    assert any(r["agree"] in ("yes", "no") for r in data["rows"] if r["delta"] == "ΔSR(D)")


def test_errata_command(capsys):
    assert main(["paper-errata", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["errata"]
    assert any(r["table"] == 5 and r["row"] == "IN" and r["printed"] == "12.96" for r in rows)


def test_classification_mean_uses_our_15_class_row_when_stored(tmp_path):
    run = tmp_path / "cls"
    (run / "rows").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"run": "cls", "task": "classification",
                                                   "classes": ["RB", "OB"], "seeds": [0]}))
    rows = []
    for variant, (rb, ob, mean, mean15) in {"LR": (0.2, 0.4, 0.30, 0.10),
                                           "HR": (0.3, 0.5, 0.40, 0.50)}.items():
        for cls, v in (("RB", rb), ("OB", ob), ("Mean", mean), ("Mean (15)", mean15)):
            rows.append(["cls", "synthsewer-cls", "classification", "resnet101", variant, cls,
                         "f1", v, 0, "train-on-hr", "", True])
    pd.DataFrame(rows, columns=COLS).to_csv(run / "rows" / "cell.csv", index=False)
    frame = compare(load_ours(run))
    mean = frame[(frame["table"] == 8) & (frame["class"] == "Mean") & (frame["delta"] == "ΔLR")]
    assert mean["ours"].tolist() == [pytest.approx(-40.0)]   # Mean (15): 10 - 50, not 30 - 40


def test_a_delta_whose_interval_contains_0_is_not_sign_compared(tmp_path):
    """Exported tables carry our intervals: a Δ whose [lo, hi] contains 0 is 'n.s.', not a
    sign agreement or disagreement; the summary counts it apart."""
    from bench.report.paper_compare import summary

    table = pd.DataFrame({"class": ["JO", "IL", "IN", "Mean"], "LR": [50.0, 30, 40, 40],
                          "SR(edsr)": [55.0, 40, 41, 45], "HR": [60.0, 38, 45, 48]})
    table["ΔSR(edsr) lo"], table["ΔSR(edsr) hi"] = [2.0, -1.0, -3.0, 1.0], [8.0, 12.0, 4.0, 9.0]
    table.to_csv(tmp_path / "segmentation-fcn-iou.csv", index=False)
    frame = compare(load_ours(tmp_path), {"D": "edsr"})

    def cell(cls):
        return frame[(frame["class"] == cls) & (frame["delta"] == "ΔSR(D)")].iloc[0]

    assert cell("JO")["agree"] == "yes"                       # +5 [2, 8] vs the paper's +
    assert cell("IL")["agree"] == "n.s." and cell("IL")["sign_ours"] == "~"
    assert "not distinguishable from 0" in summary(frame)
