"""The leaderboard (the paper's Table 2 shape), computed from an explicit selection of the store.

Image quality comes from `eval-sr` rows (task "sr"), cost from `bench cost` rows (task
"cost"). Each part is one selection (bench/report/selection.py): rows measured on different
test sets, profiles, degradations, LR sizes or machines are never ranked together; the title
states the selection and the other selections in the store are listed, with the `--where`
arguments that choose them. Latency shows its median and inter-quartile range and the
threads / device / precision it was measured with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench import atomic
from bench.metrics import METRICS, names_in
from bench.report.selection import COST_KEYS, LATENCY_KEYS, QUALITY_KEYS, Selection, choose

# The columns and their directions come from the metric catalogue (bench/metrics).
QUALITY, COST, LATENCY = (list(names_in(g)) for g in ("quality", "cost", "latency"))
DISPLAYED = {"GMACs": "macs", "params (M)": "params"}  # display column -> stored metric
PAPER_LR = "128x128"


@dataclass
class Board:
    table: pd.DataFrame
    quality: Selection | None = None
    cost: Selection | None = None
    latency: Selection | None = None
    others: dict[str, list[Selection]] = field(default_factory=dict)

    def title(self) -> str:
        parts = ["SR leaderboard"]
        if self.quality:
            k = self.quality.keys
            parts.append(f"quality: {k.get('dataset')} test split, {k.get('n_test')} images, "
                         f"profile {k.get('profile')}, degradation {k.get('degradation')}, "
                         f"data seed {k.get('data_seed')}")
        if self.cost:
            parts.append(f"cost at LR {self.cost.keys.get('lr_size')} (Ref 4x for reference-based)")
        if self.latency:
            k = self.latency.keys
            parts.append(f"latency at LR {k.get('lr_size')}: {k.get('device')}, "
                         f"{k.get('threads')} thread(s), {k.get('precision')}, median [IQR]")
        return " — ".join(parts)

    def notes(self) -> list[str]:
        """One line per selection left out, with the arguments that choose it."""
        lines = []
        for part, sels in self.others.items():
            for s in sels:
                lines.append(f"not shown ({part}): {s.describe()} — {', '.join(s.backends)}; "
                             f"choose it with {s.where_args()}")
        return lines

    def as_dict(self) -> dict:
        return {"title": self.title(),
                "selection": {p: (s.as_dict() if s else None) for p, s in
                              (("quality", self.quality), ("cost", self.cost),
                               ("latency", self.latency))},
                "not_shown": {p: [s.as_dict() for s in sels] for p, sels in self.others.items()},
                "leaderboard": self.table.round(6).astype(object)
                                   .where(self.table.notna(), None).to_dict(orient="index")}


def _complete_quality(group: pd.DataFrame) -> bool:
    """At least one backend with every quality metric."""
    per_model = group.groupby("model")["metric"].agg(set)
    return any(set(QUALITY) <= metrics for metrics in per_model)


def build(frame: pd.DataFrame, dataset: str | None = "synthsewer-sr", sort: str = "psnr_y",
          where: dict[str, str] | None = None) -> Board:
    """The leaderboard of one selection per part (quality, cost, latency); `frame` is
    `selection.annotate(load_runs(root), root)`."""
    where = dict(where or {})
    if dataset and "dataset" not in where:
        where["dataset"] = dataset
    for key in set(QUALITY_KEYS + COST_KEYS + LATENCY_KEYS) - set(frame.columns):
        frame = frame.assign(**{key: "?"})
    sr = frame[(frame["task"] == "sr") & frame["metric"].isin(QUALITY)]
    quality, q_sel, q_other = choose(sr, QUALITY_KEYS, where, _complete_quality)
    cost_rows = frame[frame["task"] == "cost"]
    static = cost_rows[cost_rows["metric"].isin(COST)]
    cost, c_sel, c_other = choose(static, COST_KEYS, where, prefer={"lr_size": PAPER_LR})
    timed = cost_rows[cost_rows["metric"].isin(LATENCY)]
    if c_sel is not None:  # latency at the LR size the cost columns show
        timed = timed[timed["lr_size"] == c_sel.keys["lr_size"]]
    latency, l_sel, l_other = choose(timed, LATENCY_KEYS, where)
    parts = [p for p in (quality, cost, latency) if len(p)]
    wide = [p.pivot(index="model", columns="metric", values="value") for p in parts]
    table = wide[0].join(wide[1:], how="outer") if wide else pd.DataFrame()
    cols = [m for m in QUALITY + COST + LATENCY if m in table.columns]
    table = table[cols].copy()
    if "macs" in table:
        table["GMACs"] = table.pop("macs") / 1e9
    if "params" in table:
        table["params (M)"] = table.pop("params") / 1e6
    if sort in table.columns:
        table = table.sort_values(sort, ascending=_lower_is_better(sort))
    table.index.name = "backend"
    others = {k: v for k, v in (("quality", q_other), ("cost", c_other), ("latency", l_other)) if v}
    return Board(table, q_sel, c_sel, l_sel, others)


def _lower_is_better(column: str) -> bool:
    info = METRICS.get(DISPLAYED.get(column, column))
    return info is not None and not info.higher_is_better


def leaderboard(frame: pd.DataFrame, dataset: str = "synthsewer-sr", sort: str = "psnr_y",
                where: dict[str, str] | None = None) -> pd.DataFrame:
    """The table alone (see `build`)."""
    return build(frame, dataset, sort, where).table


# --------------------------------------------------------------------------- formatting
HEADERS = {"psnr_y": "PSNR-Y\ndB", "ssim_y": "SSIM-Y", "psnr_rgb": "PSNR-RGB\ndB",
           "ssim_rgb": "SSIM-RGB", "GMACs": "GMACs", "paper_gflops": "paper\nGFLOPs",
           "params (M)": "params\nM", "latency_ms": "latency\nms", "latency_q1_ms": "IQR\nms"}
GROUPS = [["psnr_y", "ssim_y"], ["psnr_rgb", "ssim_rgb"], ["GMACs", "paper_gflops", "params (M)"],
          ["latency_ms", "latency_q1_ms"]]


def _fmt(col: str, value: float) -> str:
    if pd.isna(value):
        return "-"
    if col.startswith("ssim"):
        return f"{value:.4f}"
    if col.startswith("psnr") or col in ("GMACs", "paper_gflops"):
        return f"{value:.2f}"
    if col.startswith("latency"):
        return f"{value:.1f}" if value < 1000 else f"{value:.0f}"
    return f"{value:.3f}"


def _cell(table: pd.DataFrame, name: str, col: str) -> str:
    if col == "latency_q1_ms":  # the spread column shows the whole IQR
        q1, q3 = table.loc[name].get("latency_q1_ms"), table.loc[name].get("latency_q3_ms")
        return "-" if pd.isna(q1) or pd.isna(q3) else f"{_fmt(col, q1)}–{_fmt(col, q3)}"
    return _fmt(col, table.loc[name, col])


def shown_columns(table: pd.DataFrame) -> list[list[str]]:
    return [g2 for g2 in ([c for c in g if c in table.columns] for g in GROUPS) if g2]


def rich_tables(board: Board, width: int):
    from bench.report.layout import Column, Layout

    t = board.table
    index = Column("backend", [str(n) for n in t.index], justify="left")
    groups = [[Column(HEADERS.get(c, c), [_cell(t, n, c) for n in t.index]) for c in g]
              for g in shown_columns(t)]
    return Layout(index, groups).tables(board.title(), width)


def write_leaderboard(board: Board | pd.DataFrame, out_dir: Path, title: str | None = None
                      ) -> list[Path]:
    """Markdown (title + selection + notes), CSV and LaTeX under `out_dir`."""
    if isinstance(board, pd.DataFrame):
        board = Board(board)
    table, stem = board.table, out_dir / "leaderboard"
    cols = [c for g in shown_columns(table) for c in g]
    heads = [HEADERS.get(c, c).replace("\n", " ") for c in cols]
    md = [f"**{title or board.title()}**", "",
          "| backend | " + " | ".join(heads) + " |",
          "|---|" + "|".join("---:" for _ in cols) + "|"]
    for name in table.index:
        md.append(f"| {name} | " + " | ".join(_cell(table, name, c) for c in cols) + " |")
    md += [""] + [f"- {line}" for line in board.notes()]
    atomic.write_text(stem.with_suffix(".md"), "\n".join(md).rstrip() + "\n")
    with atomic.atomic_path(stem.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, float_format="%.6g")
    tex = [r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
           "backend & " + " & ".join(h.replace("_", r"\_") for h in heads) + r" \\", r"\midrule"]
    for name in table.index:
        tex.append(str(name) + " & " + " & ".join(_cell(table, name, c).replace("–", "--")
                                                  for c in cols) + r" \\")
    tex += [r"\bottomrule", r"\end{tabular}", ""]
    atomic.write_text(stem.with_suffix(".tex"), "\n".join(tex))
    return [stem.with_suffix(s) for s in (".md", ".csv", ".tex")]
