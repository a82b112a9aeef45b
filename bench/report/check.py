"""Regression gate for users' CI: compare a run's metrics with a committed baseline.

Baseline file: CSV with columns task, model, variant, cls, metric, value (what
`bench check --write-baseline` writes from a run; extra columns are ignored). A metric
regresses when it is worse than the baseline by more than the tolerance, in the metric's own
direction (higher- or lower-is-better): worse = baseline - value for higher-is-better.
Tolerance is absolute (`--tolerance`, in the metric's units, e.g. 0.02 IoU) and/or relative
(`--rel-tolerance`, a fraction of |baseline|); a metric passes if it is within either.
A baseline entry the run does not have is reported as missing (also a failure).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.errors import DataError
from bench.metrics import higher_is_better

KEY = ["task", "model", "variant", "cls", "metric"]


@dataclass(frozen=True)
class Finding:
    key: tuple[str, ...]
    baseline: float
    value: float | None
    kind: str  # "regression" | "missing"

    def describe(self) -> str:
        name = "/".join(self.key)
        if self.kind == "missing":
            return f"missing: {name} (baseline {self.baseline:.4f}) is not in the run"
        return f"regression: {name} = {self.value:.4f}, baseline {self.baseline:.4f} " \
               f"(Δ {self.value - self.baseline:+.4f})"


def run_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of every (task, model, variant, class, metric)."""
    return frame.groupby(KEY, as_index=False)["value"].mean()


def read_baseline(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(path, "baseline file not found")
    try:
        base = pd.read_csv(path, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(path, f"not a readable CSV ({exc})") from None
    missing = [c for c in KEY + ["value"] if c not in base.columns]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}; expected {', '.join(KEY + ['value'])}")
    values = pd.to_numeric(base["value"], errors="coerce")
    bad = values.isna()
    if bad.any():
        line = int(bad.idxmax()) + 2  # header is line 1
        raise DataError(path, f"line {line}: column 'value' is {base['value'][bad.idxmax()]!r}, expected a number")
    base["value"] = values
    for col in KEY:
        base[col] = base[col].astype(str)
    return base


def compare(frame: pd.DataFrame, baseline: pd.DataFrame, tolerance: float = 0.0,
            rel_tolerance: float = 0.0) -> list[Finding]:
    means = run_means(frame.astype({"seed": int}) if "seed" in frame else frame)
    for col in KEY:
        means[col] = means[col].astype(str)
    index = {tuple(r[k] for k in KEY): float(r["value"]) for _, r in means.iterrows()}
    findings = []
    for _, r in baseline.iterrows():
        key = tuple(str(r[k]) for k in KEY)
        base = float(r["value"])
        value = index.get(key)
        if value is None:
            findings.append(Finding(key, base, None, "missing"))
            continue
        worse = (base - value) if higher_is_better(key[-1]) else (value - base)
        allowed = max(tolerance, rel_tolerance * abs(base))
        if worse > allowed + 1e-9:  # float noise is not a regression
            findings.append(Finding(key, base, value, "regression"))
    return findings


def write_baseline(frame: pd.DataFrame, path: Path) -> int:
    from bench import atomic

    means = run_means(frame)
    with atomic.atomic_path(path, suffix=".csv") as tmp:
        means.to_csv(tmp, index=False)  # full precision: a baseline must compare equal to its run
    return len(means)
