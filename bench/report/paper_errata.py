"""Errata of the paper, recomputed from its own printed rows (results/paper/*.csv).

`errata()` runs every check over Tables 2-11 and returns one row per discrepancy:
table, row, column, printed, recomputed, check, note. `write_errata()` writes it to
results/paper/errata.csv (`python -m bench.report.paper_errata` regenerates that file).

Checks on the Δ tables (3-9); values are printed to 2 decimals, so a recomputation from printed
numbers carries rounding error, and a discrepancy is reported only beyond it:
- `delta-of-row`: every printed Δ against its own row (eqs. 24-26: dLR = LR - HR,
  dSR = SR - LR, dHR = HR - SR); three roundings -> tolerance 0.015.
- `mean-of-classes`: every cell of the Mean row against the mean of the class rows above it;
  two roundings -> tolerance 0.01.
- `mean-delta-from-class-means`: each Δ of the Mean row against the Δ of the class-row means
  (what the Mean Δ is once the Mean row is fixed); tolerance 0.015. Not repeated where
  `mean-of-classes` already gives the same recomputed value for that cell.
Checks on Tables 2, 10, 11: the prose claims about them, and Table 2 against the unrounded
values of Tables 10-11 (the same models), tolerance half a unit in the last printed digit.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.paper import (DELTA_COLUMNS, DELTA_DEFINITION, DELTA_TABLES, PAPER_DIR,
                                VALUE_COLUMNS, load_table)

COLUMNS = ["table", "row", "column", "printed", "recomputed", "check", "note"]
TOL_DELTA = 0.015 + 1e-9
TOL_MEAN = 0.01 + 1e-9


def _row(table, row, column, printed, recomputed, check, note) -> dict:
    return dict(zip(COLUMNS, (int(table), row, column, printed, recomputed, check, note)))


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def delta_table_errata(n: int, folder: Path = PAPER_DIR) -> list[dict]:
    """Every discrepancy of Δ table `n` (3-9)."""
    t = load_table(n, folder=folder).set_index("class")
    raw = load_table(n, raw=True, folder=folder).set_index("class")
    classes = [c for c in t.index if c != "Mean"]
    out = []
    for cls in t.index:
        for col, (a, b) in DELTA_DEFINITION.items():
            rec = t.at[cls, a] - t.at[cls, b]
            if abs(t.at[cls, col] - rec) > TOL_DELTA:
                out.append(_row(n, cls, col, raw.at[cls, col], _fmt(rec), "delta-of-row",
                                f"{col} = {a} - {b} = {raw.at[cls, a]} - {raw.at[cls, b]}"))
    if "Mean" not in t.index:
        return out
    means = t.loc[classes].mean()
    for col in (*VALUE_COLUMNS, *DELTA_COLUMNS):
        if abs(t.at["Mean", col] - means[col]) > TOL_MEAN:
            out.append(_row(n, "Mean", col, raw.at["Mean", col], _fmt(means[col]),
                            "mean-of-classes",
                            f"the printed Mean is not the mean of the {len(classes)} class rows"))
    flagged = {(r["column"], r["recomputed"]) for r in out if r["check"] == "mean-of-classes"}
    for col, (a, b) in DELTA_DEFINITION.items():
        rec = means[a] - means[b]
        if abs(t.at["Mean", col] - rec) > TOL_DELTA and (col, _fmt(rec)) not in flagged:
            out.append(_row(n, "Mean", col, raw.at["Mean", col], _fmt(rec),
                            "mean-delta-from-class-means",
                            f"{col} of the class-row means: mean {a} {_fmt(means[a])} - mean "
                            f"{b} {_fmt(means[b])}"))
    return out


def _rank(values: pd.Series, name: str, ascending: bool) -> int:
    order = values.sort_values(ascending=ascending, kind="stable").index.tolist()
    return order.index(name) + 1


def prose_errata(folder: Path = PAPER_DIR) -> list[dict]:
    """The paper's sentences about its tables, checked against the stored rows."""
    t2 = load_table(2, folder=folder).set_index("method")
    t5 = load_table(5, folder=folder).set_index("class")
    t10 = load_table(10, folder=folder)
    t11 = load_table(11, folder=folder)
    out = []
    d_psnr = t2.at["DSRNet-D", "PSNR"] - t2.at["DSRNet-S", "PSNR"]
    if abs(d_psnr - 0.11) > 0.005:
        out.append(_row(2, "DSRNet-D vs DSRNet-S", "PSNR", "0.11", _fmt(d_psnr, 4), "prose",
                        "section 5.2: 'DSRNet-D improves PSNR by about 0.11 compared to "
                        "DSRNet-S'; Table 2 gives 36.6797 - 36.5064"))
    d_ssim = t2.at["DSRNet-D", "SSIM"] - t2.at["DSRNet-S", "SSIM"]
    if abs(d_ssim - 0.01) > 0.005:
        out.append(_row(2, "DSRNet-D vs DSRNet-S", "SSIM", "0.01", _fmt(d_ssim, 4), "prose",
                        "section 5.2: 'SSIM by approximately 0.01'; Table 2 gives "
                        "0.9560 - 0.9554"))
    flops = t2["FLOPs_G"]
    lowest = flops.idxmin()
    if lowest != "DSRNet-D":
        rank = int((flops < flops["DSRNet-D"]).sum()) + 1
        out.append(_row(2, "DSRNet-D", "FLOPs_G", "lowest",
                        f"rank {rank} of {len(flops)}; lowest: {lowest} {flops[lowest]:g}",
                        "prose", "section 5.2: 'DSRNet-D achieves the lowest FLOPs'"))
    rank = _rank(t2["PSNR"], "DSRNet-D", ascending=False)
    if rank != 2:
        above = t2["PSNR"].sort_values(ascending=False).index[:rank - 1]
        out.append(_row(2, "DSRNet-D", "PSNR", "second-highest",
                        f"rank {rank} of {len(t2)} (below {', '.join(above)})", "prose",
                        "section 5.2: 'the second-highest PSNR'"))
    # Table 2 vs the unrounded values of the same models in Tables 10 (row 1 = L_rec only,
    # equal to MASA-rec; row 3 = DSRNet+) and 11 (row 1 = DSRNet-S, row 4 = DSRNet-D)
    same = [("MASA-rec", t10.iloc[0], "Table 10 row 1 (L_rec only)"),
            ("DSRNet+", t10.iloc[2], "Table 10 row 3 (L_rec + L_dep)"),
            ("DSRNet-S", t11.iloc[0], "Table 11 row 1 (L_rec only)"),
            ("DSRNet-D", t11.iloc[3], "Table 11 row 4 (L_rec + L_kd + L_ad)")]
    raw2 = load_table(2, raw=True, folder=folder).set_index("method")
    for method, full, where in same:
        for col in ("PSNR", "SSIM"):
            if abs(t2.at[method, col] - full[col]) > 0.5e-4 + 1e-12:
                out.append(_row(2, method, col, raw2.at[method, col], f"{full[col]:.4f}",
                                "table-vs-table", f"{where} prints {full[col]:.6f}: Table 2 "
                                "truncates instead of rounding"))
    # section 5.3 on Table 5: 'the improvement it brings to the IL class is slightly less
    # compared to the other two classes'
    gains = t5.loc[["JO", "IL", "IN"], "dSR(D)"]
    if gains.idxmin() != "IL":
        out.append(_row(5, "IL", "dSR(D)", _fmt(gains["IL"]),
                        f"smallest: {gains.idxmin()} {_fmt(gains.min())}", "prose",
                        "section 5.3: DSRNet's gain on IL is 'slightly less' than on the other "
                        "two classes; on YOLOv5s it is larger than JO's"))
    return out


def errata(folder: Path = PAPER_DIR) -> pd.DataFrame:
    rows = [r for n in DELTA_TABLES for r in delta_table_errata(n, folder)]
    rows += prose_errata(folder)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["table"], kind="stable").reset_index(drop=True)


def write_errata(path: Path | None = None, folder: Path = PAPER_DIR) -> Path:
    from bench import atomic

    path = Path(path) if path is not None else folder / "errata.csv"
    head = ("# Errata of Pan et al. 2025, recomputed from the printed rows of results/paper/ by "
            "bench/report/paper_errata.py (do not edit; regenerate with "
            "`python -m bench.report.paper_errata`)\n")
    atomic.write_text(path, head + errata(folder).to_csv(index=False))
    return path


def main() -> int:
    print(write_errata())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

