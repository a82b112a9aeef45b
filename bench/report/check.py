"""Regression gate for users' CI: compare a run's metrics with a committed baseline.

Baseline file: CSV with columns task, model, variant, cls, metric, value (what
`bench check --write-baseline` writes from a run; extra columns are ignored). Values in the
file are in store units (IoU 0.6695), exactly as the run stored them.

Comparison is in the units the tables print (the metric catalogue's display scale: IoU in %,
so 0.6695 is compared as 66.95): `--tolerance 2` allows a drop of two points of %, whatever
the metric's store unit. A metric regresses when it is worse than the baseline by more than
the tolerance, in the metric's own direction (higher- or lower-is-better): worse = baseline -
value for higher-is-better. Tolerance is absolute (`--tolerance`, in display units) and/or
relative (`--rel-tolerance`, a fraction of |baseline|, unit-free); a metric passes if it is
within either. A baseline entry the run does not have is reported as missing (a failure).
`check()` also says how many metrics it compared.

`--tolerance auto` (docs/uncertainty.md): a metric regresses only where the new value falls
outside the baseline's bootstrap interval on the worse side (below `lo` for higher-is-better,
above `hi` for lower-is-better); entries without an interval use the other tolerances.

Selection: a baseline records the selection it came from (SELECTION columns: dataset,
profile, model size preset, test size, data fingerprint; the task is in KEY). Checking a run of
another selection is refused (one line, exit 2); so is a baseline without these columns
(written before they existed): it cannot say what it measured, regenerate it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.errors import BenchError, DataError

KEY = ["task", "model", "variant", "cls", "metric"]
SELECTION = ["dataset", "profile", "size", "n_test", "data_fingerprint"]
AUTO = "auto"


@dataclass(frozen=True)
class Finding:
    key: tuple[str, ...]
    baseline: float      # display units (e.g. % for IoU)
    value: float | None  # display units
    kind: str  # "regression" | "missing"
    unit: str = ""

    def describe(self) -> str:
        name = "/".join(self.key)
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "missing":
            return f"missing: {name} (baseline {self.baseline:.4f}{unit}) is not in the run"
        points = " points" if self.unit == "%" else unit
        return f"regression: {name} = {self.value:.4f}{unit}, baseline {self.baseline:.4f}" \
               f"{unit} (Δ {self.value - self.baseline:+.4f}{points})"


@dataclass(frozen=True)
class CheckReport:
    findings: list[Finding]
    compared: int                  # baseline entries found in the run and compared
    units: dict[str, str]          # metric -> display unit used for the comparison

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        units = ", ".join(f"{m} in {u}" if u else m for m, u in sorted(self.units.items()))
        missing = sum(f.kind == "missing" for f in self.findings)
        regressed = len(self.findings) - missing
        return (f"compared {self.compared} metric(s) ({units}; tolerances in those units): "
                f"{regressed} regressed, {missing} missing")


def run_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of every (task, model, variant, class, metric)."""
    return frame.groupby(KEY, as_index=False)["value"].mean()


def read_baseline(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(path, "baseline file not found")
    try:
        base = pd.read_csv(path, keep_default_na=False, dtype=str)
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
    """The findings of `check` (regressions and missing entries)."""
    return check(frame, baseline, tolerance, rel_tolerance).findings


def selection_of(manifest: dict) -> dict[str, str]:
    """The selection a run measured (what a baseline records), from its manifest."""
    cfg = manifest.get("config", {})
    return {"dataset": str(manifest.get("dataset", "")), "profile": str(cfg.get("profile", "")),
            "size": str(cfg.get("task", {}).get("size", "")),
            "n_test": str(cfg.get("data", {}).get("n_test", "")),
            "data_fingerprint": str(manifest.get("dataset_fingerprint", ""))}


def check_selection(baseline: pd.DataFrame, path: Path, run: dict[str, str], task: str) -> None:
    """Refuse (BenchError: one line, exit 2) a baseline of another selection or without one."""
    regen = (f"regenerate it: bench check --run <run of the selection you mean> --baseline "
             f"{path} --write-baseline")
    missing = [c for c in SELECTION if c not in baseline.columns]
    if missing:
        raise BenchError(f"--baseline {path}: records no selection (no {', '.join(missing)} "
                         f"column; written by an older version), so it cannot be checked "
                         f"safely; {regen}")
    tasks = sorted(set(baseline["task"].astype(str)))
    base = {c: str(baseline[c].astype(str).iloc[0]) if len(baseline) else "" for c in SELECTION}
    diff = [f"{c} {base[c]} vs {run[c]}" for c in SELECTION if base[c] != run[c]]
    if tasks and tasks != [task]:
        diff.insert(0, f"task {','.join(tasks)} vs {task}")
    if diff:
        raise BenchError(f"--baseline {path}: another selection than the run "
                         f"({'; '.join(diff)}); check against a baseline of this selection "
                         f"or {regen}")


def parse_tolerance(text: str) -> float | str:
    if str(text).strip().lower() == AUTO:
        return AUTO
    try:
        value = float(text)
    except ValueError:
        raise BenchError(f"--tolerance {text!r}: expected a number (display units) or "
                         f"'auto' (the baseline's interval)") from None
    if value < 0:
        raise BenchError(f"--tolerance {text!r}: expected >= 0")
    return value


def check(frame: pd.DataFrame, baseline: pd.DataFrame, tolerance: float | str = 0.0,
          rel_tolerance: float = 0.0) -> CheckReport:
    """Compare every baseline entry with the run's seed mean, in display units;
    tolerance "auto": outside the baseline's interval (columns lo, hi) on the worse side."""
    from bench.catalogue import metric_info

    means = run_means(frame.astype({"seed": int}) if "seed" in frame else frame)
    for col in KEY:
        means[col] = means[col].astype(str)
    index = {tuple(r[k] for k in KEY): float(r["value"]) for _, r in means.iterrows()}
    findings, compared, units = [], 0, {}
    for _, r in baseline.iterrows():
        key = tuple(str(r[k]) for k in KEY)
        info = metric_info(key[-1])
        units[info.name] = info.unit
        base = float(r["value"]) * info.display_scale
        value = index.get(key)
        if value is None:
            findings.append(Finding(key, base, None, "missing", info.unit))
            continue
        compared += 1
        value *= info.display_scale
        worse = (base - value) if info.higher_is_better else (value - base)
        bound = r.get("lo" if info.higher_is_better else "hi") if tolerance == AUTO else None
        if bound is not None and pd.notna(bound) and str(bound) != "":
            allowed = max(0.0, abs(base - float(bound) * info.display_scale))
        else:
            allowed = max(0.0 if tolerance == AUTO else tolerance, rel_tolerance * abs(base))
        if worse > allowed + 1e-9 * max(1.0, abs(base)):  # float noise is not a regression
            findings.append(Finding(key, base, value, "regression", info.unit))
    return CheckReport(findings, compared, units)


def write_baseline(frame: pd.DataFrame, path: Path, selection: dict[str, str] | None = None,
                   bounds: dict[tuple, tuple[float, float]] | None = None) -> int:
    """Seed means of every entry, its interval (lo, hi: store units, empty without one) and
    the run's selection in every row."""
    from bench import atomic

    means = run_means(frame)
    if bounds is not None:
        keys = [tuple(str(r[k]) for k in KEY) for _, r in means.iterrows()]
        means["lo"] = [bounds.get(k, (float("nan"),) * 2)[0] for k in keys]
        means["hi"] = [bounds.get(k, (float("nan"),) * 2)[1] for k in keys]
    for c, v in (selection or {}).items():
        means[c] = v
    with atomic.atomic_path(path, suffix=".csv") as tmp:
        means.to_csv(tmp, index=False)  # full precision: a baseline must compare equal to its run
    return len(means)
