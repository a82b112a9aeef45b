"""The paper's Tables 2-11 as data (results/paper/) and the errata recomputed from their rows."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.report import paper
from bench.report.paper_errata import errata, write_errata

ROOT = Path(__file__).resolve().parents[1]
PAPER_TEXT = ROOT.parent / "shared" / "seeds" / "001_12199de77d79ce49.txt"


def _t(n):
    return paper.load_table(n).set_index(paper.load_table(n).columns[0])


def test_every_table_is_stored_with_its_number_and_caption():
    idx = paper.index()
    assert list(idx["table"]) == list(range(2, 12))
    for _, row in idx.iterrows():
        first = (paper.PAPER_DIR / row["file"]).read_text().splitlines()[0]
        assert first == f"# Table {row['table']}: {row['caption']}"
    assert paper.caption(5) == "Table 5: YOLOv5s defect localization results (mAP%)."
    shapes = {n: paper.load_table(n).shape for n in range(2, 12)}
    assert shapes[2] == (13, 5) and shapes[10] == (3, 5) and shapes[11] == (4, 5)
    assert all(shapes[n] == (4, 10) for n in (3, 4, 5, 6))
    assert all(shapes[n] == (16, 10) for n in (7, 8, 9))
    assert list(_t(7).index[:-1]) == ["RB", "OB", "PF", "DE", "FS", "IS", "RO", "IN", "AF", "BE",
                                      "FO", "GR", "PH", "OP", "OK"]   # 15 classes, no PB / OS


def test_values_are_kept_as_printed():
    raw = paper.load_table(2, raw=True).set_index("method")
    assert raw.at["RCAN", "PSNR"] == "35.7180" and raw.at["ATD-light", "Params_M"] == "0.769"
    assert paper.load_table(10, raw=True).iloc[1].tolist() == ["1", "1", "0", "36.969101",
                                                               "0.959903"]
    long = paper.tidy(9)
    cell = long[(long["class"] == "PH") & (long["column"] == "LR")].iloc[0]
    assert cell["printed"] == "0.00" and cell["value"] == 0.0 and cell["source"] == "paper"


@pytest.mark.skipif(not PAPER_TEXT.is_file(), reason="the paper's text is not on this machine")
def test_every_stored_row_is_a_line_of_the_paper_text():
    lines = set(PAPER_TEXT.read_text().splitlines())
    for n in range(3, 10):
        for row in paper.load_table(n, raw=True).itertuples(index=False):
            assert "\t".join(row) in lines, (n, row)
    for row in paper.load_table(2, raw=True).itertuples(index=False):
        values = "\t".join(row[1:])
        assert any(ln.endswith(values.replace("36.7557\t0.9597", "<u>36.7557</u>\t<u>0.9597</u>"))
                   for ln in lines), row
    for n in (10, 11):
        for row in paper.load_table(n, raw=True).itertuples(index=False):
            marks = "\t".join("✓" if m == "1" else "" for m in row[:3])
            assert f"{marks}\t{row[3]}\t{row[4]}" in lines, (n, row)


def test_issue_23_errata_recomputed_from_the_rows():
    t5 = _t(5)
    assert round(t5.at["IN", "HR"] - t5.at["IN", "SR(D)"], 2) == 1.57 != t5.at["IN", "dHR(D)"]
    assert t5.at["IN", "dHR(D)"] == 12.96
    assert round(t5.at["Mean", "HR"] - t5.at["Mean", "SR(D)"], 2) == -0.41
    assert t5.at["Mean", "dHR(D)"] == 3.38
    assert round(t5.at["Mean", "LR"] - t5.at["Mean", "HR"], 2) == -7.83 != t5.at["Mean", "dLR"]
    for n, printed, rows_mean, delta in ((7, 26.67, 38.85, 2.11), (8, 30.77, 42.20, -1.02),
                                         (9, 5.71, 23.35, 4.56)):
        t = _t(n)
        classes = t.drop(index="Mean")
        assert len(classes) == 15 and t.at["Mean", "SR(A)"] == printed
        assert round(classes["SR(A)"].mean(), 2) == rows_mean
        assert round(classes["SR(A)"].mean() - t.at["Mean", "LR"], 2) == delta
    assert round(_t(3).drop(index="Mean")["LR"].mean(), 2) == 42.87 != _t(3).at["Mean", "LR"]
    assert round(_t(4).drop(index="Mean")["HR"].mean(), 2) == 58.03 != _t(4).at["Mean", "HR"]
    t2 = _t(2)
    assert round(t2.at["DSRNet-D", "PSNR"] - t2.at["DSRNet-S", "PSNR"], 4) == 0.1733
    assert t2["FLOPs_G"].idxmin() == "ATD-light" != "DSRNet-D"


def _find(frame, table, row, column, check=None):
    hit = frame[(frame["table"] == table) & (frame["row"] == row) & (frame["column"] == column)]
    if check is not None:
        hit = hit[hit["check"] == check]
    return hit


def test_systematic_check_finds_every_listed_erratum():
    e = errata()
    expect = [(5, "IN", "dHR(D)", "12.96", "1.57"), (5, "Mean", "dHR(D)", "3.38", "-0.41"),
              (5, "Mean", "dLR", "-8.13", "-7.83"), (7, "Mean", "SR(A)", "26.67", "38.85"),
              (8, "Mean", "SR(A)", "30.77", "42.20"), (9, "Mean", "SR(A)", "5.71", "23.35"),
              (7, "Mean", "dSR(A)", "-10.07", "2.11"), (8, "Mean", "dSR(A)", "-12.45", "-1.02"),
              (9, "Mean", "dSR(A)", "-13.08", "4.56"), (3, "Mean", "LR", "45.06", "42.87"),
              (4, "Mean", "HR", "54.43", "58.03"), (2, "DSRNet-D vs DSRNet-S", "PSNR", "0.11",
                                                    "0.1733")]
    for table, row, column, printed, recomputed in expect:
        hit = _find(e, table, row, column)
        assert not hit.empty, (table, row, column)
        assert (hit["printed"] == printed).all() and recomputed in set(hit["recomputed"])
    assert not _find(e, 2, "DSRNet-D", "FLOPs_G").empty
    # consistent cells are not flagged: Table 6 has no erratum, nor do Tables 7-9's class rows
    assert e[e["table"] == 6].empty
    assert e[e["table"].isin([7, 8, 9]) & (e["row"] != "Mean")].empty


def test_systematic_check_flags_a_planted_error(tmp_path):
    for f in paper.PAPER_DIR.glob("*.csv"):
        (tmp_path / f.name).write_text(f.read_text())
    t6 = tmp_path / "table06_detection_ssd.csv"
    t6.write_text(t6.read_text().replace("JO,52.59,61.08,60.90,70.10,-17.51",
                                         "JO,52.59,61.08,60.90,70.10,-7.51"))
    e = errata(tmp_path)
    hit = _find(e, 6, "JO", "dLR", "delta-of-row")
    assert hit["printed"].tolist() == ["-7.51"] and hit["recomputed"].tolist() == ["-17.51"]


def test_committed_errata_csv_is_the_generated_one(tmp_path):
    out = write_errata(tmp_path / "errata.csv")
    assert out.read_text() == (paper.PAPER_DIR / "errata.csv").read_text(), \
        "results/paper/errata.csv is stale: python -m bench.report.paper_errata"
    frame = pd.read_csv(out, comment="#", dtype=str)
    assert list(frame.columns) == ["table", "row", "column", "printed", "recomputed", "check",
                                   "note"]
