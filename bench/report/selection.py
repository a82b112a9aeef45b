"""Which rows of the store a report is computed from: an explicit, shown *selection*.

Rows measured under different protocols are never ranked together. A selection is the set
of values of the keys that determine a number:

- image quality (`eval-sr` rows): dataset, profile, n_test (images averaged), degradation,
  data_seed;
- cost (`bench cost` rows): lr_size (MACs and parameters depend on nothing else);
- latency: lr_size, device, threads, precision (a latency is a property of the machine too).

The keys are read from each run's manifest (its resolved config and the extra keys the
command recorded) and from the rows (`n_images`); a key a run does not record reads "?".
Default: among the selections that pass the `--where key=value` filters, the one holding the
most recent run that has a complete row set (cost: LR 128x128, the paper's Table 2 size, when
the store has it); within it, the newest rows per backend and metric. Every report states its
selection and lists the others, so a user knows what was left out and how to ask for it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from bench.errors import BenchError

QUALITY_KEYS = ("dataset", "profile", "n_test", "degradation", "data_seed")
COST_KEYS = ("lr_size",)
LATENCY_KEYS = ("lr_size", "device", "threads", "precision")
ALL_KEYS = tuple(dict.fromkeys(QUALITY_KEYS + COST_KEYS + LATENCY_KEYS))
UNKNOWN = "?"


def degradation_text(deg: dict) -> str:
    """`x4`, `x4+blur1+noise2+jpeg50`: the degradation in one token (usable in --where)."""
    if not deg:
        return UNKNOWN
    parts = [f"x{deg.get('scale', 4)}"]
    for key, name in (("blur_sigma", "blur"), ("noise_sigma", "noise"), ("jpeg_quality", "jpeg")):
        if deg.get(key):
            parts.append(f"{name}{deg[key]:g}")
    return "+".join(parts)


def _manifest(root: Path, run: str) -> dict:
    path = root / run / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def annotate(frame: pd.DataFrame, root: Path | str) -> pd.DataFrame:
    """`frame` (bench.store.load_runs) plus one column per selection key."""
    frame = frame.copy()
    for key in ALL_KEYS:
        if key != "dataset":  # a row column already
            frame[key] = UNKNOWN
    if frame.empty:
        return frame
    root = Path(root)
    n_images = {(r.run, r.model): str(int(r.value))
                for r in frame[frame["metric"] == "n_images"].itertuples()}
    for run, idx in frame.groupby("run").groups.items():
        m = _manifest(root, str(run))
        cfg = m.get("config") or {}
        rows = frame.loc[idx]
        cost = rows["task"] == "cost"
        q = rows.index[~cost]
        frame.loc[q, "profile"] = str(cfg.get("profile", UNKNOWN))
        frame.loc[q, "degradation"] = degradation_text(cfg.get("degradation") or {})
        frame.loc[q, "data_seed"] = str((cfg.get("data") or {}).get("seed", UNKNOWN))
        default_n = str(((cfg.get("sr") or {}).get("eval") or {}).get("n_test", UNKNOWN))
        frame.loc[q, "n_test"] = [n_images.get((run, model), default_n)
                                  for model in frame.loc[q, "model"]]
        c = rows.index[cost]
        frame.loc[c, "lr_size"] = [m.get("lr_size") or (d[2:] if str(d).startswith("lr") else UNKNOWN)
                                   for d in frame.loc[c, "dataset"].astype(str)]
        frame.loc[c, "device"] = str(m.get("device", UNKNOWN))
        frame.loc[c, "threads"] = str(m.get("threads", UNKNOWN))
        frame.loc[c, "precision"] = str(m.get("precision", UNKNOWN))
    return frame


def parse_where(items: Iterable[str] | None) -> dict[str, str]:
    """`--where key=value` (repeatable) -> {key: value}; unknown keys get a did-you-mean."""
    from bench.registry import did_you_mean

    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise BenchError(f"--where {item!r}: expected KEY=VALUE, e.g. --where profile=quick "
                             f"(keys: {', '.join(ALL_KEYS)})")
        if key not in ALL_KEYS:
            raise BenchError(f"--where {item!r}: unknown key {key!r}.{did_you_mean(key, ALL_KEYS)}"
                             f" Keys: {', '.join(ALL_KEYS)}")
        out[key] = value
    return out


@dataclass
class Selection:
    keys: dict[str, str]
    backends: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    newest: str = ""

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.keys.items())

    def where_args(self) -> str:
        return " ".join(f"--where {k}={v}" for k, v in self.keys.items() if v != UNKNOWN)

    def as_dict(self) -> dict:
        return {"keys": dict(self.keys), "backends": list(self.backends), "runs": list(self.runs)}


def latest_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (model, metric) the row of the newest run (manifest creation time)."""
    if rows.empty:
        return rows
    return rows.sort_values("created", kind="stable").groupby(["model", "metric"],
                                                              as_index=False).last()


def choose(rows: pd.DataFrame, keys: tuple[str, ...], where: dict[str, str],
           complete: Callable[[pd.DataFrame], bool] = lambda g: True,
           prefer: dict[str, str] | None = None
           ) -> tuple[pd.DataFrame, Selection | None, list[Selection]]:
    """Rows of one selection over `keys` (see the module docstring), that selection, and the
    other selections present in `rows` (after the `where` filters) that were left out."""
    for key, value in where.items():
        if key in keys:
            rows = rows[rows[key].astype(str) == value]
    if rows.empty:
        return rows, None, []
    groups = []
    for values, group in rows.groupby(list(keys), sort=False):
        values = values if isinstance(values, tuple) else (values,)
        sel = Selection(dict(zip(keys, map(str, values))), sorted(set(group["model"])),
                        sorted(set(group["run"])), str(group["created"].max()))
        groups.append((sel, group))
    candidates = [(s, g) for s, g in groups if complete(g)] or groups
    preferred = [(s, g) for s, g in candidates
                 if prefer and all(s.keys.get(k) == v for k, v in prefer.items()
                                   if k not in where)]
    chosen, group = max(preferred or candidates, key=lambda sg: sg[0].newest)
    others = [s for s, _ in groups if s is not chosen]
    return latest_rows(group), chosen, others
