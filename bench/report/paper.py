"""The paper's Tables 2-11 as data (results/paper/*.csv), read with pandas.

Every CSV holds the numbers exactly as the paper prints them (Pan et al. 2025); its first lines
are `#` comments with the table number and caption. `results/paper/index.csv` lists the
tables, `results/paper/methods.csv` maps the paper's SR columns (D = DSRNet, A = ATD) and task
models onto this project's names. Values are kept as printed text in `load_table(n, raw=True)`
(so "0.9160" stays "0.9160") and as floats otherwise. Nothing here recomputes a value: the
errata (bench/report/paper_errata.py) do, next to the printed one.

Tables 3-9 share one layout: `class, LR, SR(D), SR(A), HR, dLR, dSR(D), dSR(A), dHR(D),
dHR(A)` with the paper's eqs. 24-26: dLR = LR - HR, dSR = SR - LR, dHR = HR - SR.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.paths import paper_dir

PAPER_DIR = paper_dir()  # results/paper/ of a checkout, bench/_paper/ of a wheel
VALUE_COLUMNS = ("LR", "SR(D)", "SR(A)", "HR")
DELTA_COLUMNS = ("dLR", "dSR(D)", "dSR(A)", "dHR(D)", "dHR(A)")
DELTA_TABLES = (3, 4, 5, 6, 7, 8, 9)
# (delta column) -> (minuend, subtrahend), paper eqs. 24-26
DELTA_DEFINITION = {"dLR": ("LR", "HR"), "dSR(D)": ("SR(D)", "LR"), "dSR(A)": ("SR(A)", "LR"),
                    "dHR(D)": ("HR", "SR(D)"), "dHR(A)": ("HR", "SR(A)")}
PAPER_LABEL = "paper"   # how every paper number is marked in reports


def _read(path: Path, **kw) -> pd.DataFrame:
    if not path.is_file():
        raise BenchError(f"{path}: not found; the paper's tables live in results/paper/ of a "
                         "source checkout")
    return pd.read_csv(path, comment="#", **kw)


def index(folder: Path = PAPER_DIR) -> pd.DataFrame:
    """table, file, caption, task, model, metric: one row per stored table."""
    return _read(folder / "index.csv", dtype={"table": int, "model": str}, keep_default_na=False)


def methods(folder: Path = PAPER_DIR) -> pd.DataFrame:
    """kind (sr | model), paper, paper_name, ours (names separated by |), note."""
    return _read(folder / "methods.csv", dtype=str, keep_default_na=False)


def caption(n: int, folder: Path = PAPER_DIR) -> str:
    row = _entry(n, folder)
    return f"Table {n}: {row['caption']}"


def _entry(n: int, folder: Path) -> pd.Series:
    idx = index(folder)
    hit = idx[idx["table"] == int(n)]
    if hit.empty:
        raise BenchError(f"paper table {n}: not stored; stored: "
                         f"{', '.join(map(str, idx['table']))}")
    return hit.iloc[0]


def load_table(n: int, *, raw: bool = False, folder: Path = PAPER_DIR) -> pd.DataFrame:
    """Table `n` in the paper's own layout; `raw=True` keeps every cell as printed text."""
    path = folder / _entry(n, folder)["file"]
    frame = _read(path, dtype=str, keep_default_na=False)
    if raw:
        return frame
    key = frame.columns[0] if int(n) not in (10, 11) else None
    out = frame.copy()
    for col in frame.columns:
        if col != key:
            out[col] = pd.to_numeric(frame[col])
    return out


def tidy(n: int, folder: Path = PAPER_DIR) -> pd.DataFrame:
    """One row per (row, column) of a Δ table (3-9): table, model, class, column, value,
    printed (text), source = "paper"."""
    if int(n) not in DELTA_TABLES:
        raise BenchError(f"paper table {n}: tidy() covers the Δ tables {DELTA_TABLES}")
    raw = load_table(n, raw=True, folder=folder)
    entry = _entry(n, folder)
    long = raw.melt(id_vars="class", var_name="column", value_name="printed")
    long["value"] = pd.to_numeric(long["printed"])
    long.insert(0, "model", entry["model"])
    long.insert(0, "table", int(n))
    long["source"] = PAPER_LABEL
    return long


def all_delta_tables(folder: Path = PAPER_DIR) -> pd.DataFrame:
    """tidy() of Tables 3-9 stacked."""
    return pd.concat([tidy(n, folder) for n in DELTA_TABLES], ignore_index=True)


def our_model(n: int, folder: Path = PAPER_DIR) -> str:
    """This project's task model standing in for the paper's model of table `n`."""
    m = methods(folder)
    hit = m[(m["kind"] == "model") & (m["paper"] == str(int(n)))]
    if hit.empty:
        raise BenchError(f"results/paper/methods.csv: no model row for table {n}")
    return hit.iloc[0]["ours"]


def sr_candidates(folder: Path = PAPER_DIR) -> dict[str, list[str]]:
    """Paper SR column ("D", "A") -> our backends that stand in for it, in preference order."""
    m = methods(folder)
    return {r["paper"]: r["ours"].split("|") for _, r in m[m["kind"] == "sr"].iterrows()}
