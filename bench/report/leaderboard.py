"""The leaderboard (the paper's Table 2 shape) and the FLOPs-vs-PSNR plot (its Figure 7).

Both read only the result store: image quality from `eval-sr` rows (task "sr"), cost from
`bench cost` rows (task "cost"). When a backend has quality rows from several runs, the most
recent run wins.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench import atomic

QUALITY = ["psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"]
COST = ["macs", "paper_gflops", "params", "latency_ms"]


def _latest(rows: pd.DataFrame) -> pd.DataFrame:
    """Keep, per (model, metric), the row of the most recent run (run ids sort by manifest time)."""
    if rows.empty:
        return rows
    rows = rows.sort_values("created").groupby(["model", "metric"], as_index=False).last()
    return rows


def leaderboard(frame: pd.DataFrame, dataset: str = "synthsewer-sr",
                sort: str = "psnr_y") -> pd.DataFrame:
    quality = _latest(frame[(frame["task"] == "sr") & (frame["dataset"] == dataset)])
    cost = _latest(frame[frame["task"] == "cost"])
    q = quality.pivot(index="model", columns="metric", values="value") if len(quality) else pd.DataFrame()
    c = cost.pivot(index="model", columns="metric", values="value") if len(cost) else pd.DataFrame()
    # outer: a backend with cost rows but no PSNR yet still shows its cost
    table = q.join(c, how="outer") if len(q) else c
    cols = [m for m in QUALITY + COST if m in table.columns]
    table = table[cols].copy()
    if "macs" in table:
        table["GMACs"] = table.pop("macs") / 1e9
    if "params" in table:
        table["params (M)"] = table.pop("params") / 1e6
    if sort in table.columns:
        ascending = sort in ("GMACs", "params (M)", "latency_ms", "paper_gflops")
        table = table.sort_values(sort, ascending=ascending)
    table.index.name = "backend"
    return table


def write_leaderboard(table: pd.DataFrame, out_dir: Path, dataset: str) -> list[Path]:
    stem = out_dir / "leaderboard"
    fmt = table.copy()
    md_lines = [f"**SR leaderboard on {dataset} (test split; x4; cost at LR 128x128)**", "",
                "| backend | " + " | ".join(fmt.columns) + " |",
                "|---|" + "|".join("---:" for _ in fmt.columns) + "|"]
    for name, row in fmt.iterrows():
        md_lines.append(f"| {name} | " + " | ".join(_fmt(c, v) for c, v in row.items()) + " |")
    atomic.write_text(stem.with_suffix(".md"), "\n".join(md_lines) + "\n")
    with atomic.atomic_path(stem.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, float_format="%.6g")
    tex = [r"\begin{tabular}{l" + "r" * len(fmt.columns) + "}", r"\toprule",
           "backend & " + " & ".join(c.replace("_", r"\_") for c in fmt.columns) + r" \\", r"\midrule"]
    for name, row in fmt.iterrows():
        tex.append(name + " & " + " & ".join(_fmt(c, v) for c, v in row.items()) + r" \\")
    tex += [r"\bottomrule", r"\end{tabular}", ""]
    atomic.write_text(stem.with_suffix(".tex"), "\n".join(tex))
    return [stem.with_suffix(s) for s in (".md", ".csv", ".tex")]


def _fmt(col: str, value: float) -> str:
    if pd.isna(value):
        return "-"
    if col.startswith("ssim"):
        return f"{value:.4f}"
    if col.startswith("psnr") or col in ("GMACs", "paper_gflops", "latency_ms"):
        return f"{value:.2f}"
    return f"{value:.3f}"


def plot_flops_psnr(table: pd.DataFrame, out_stem: Path, x: str = "GMACs") -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = table.dropna(subset=[c for c in (x, "psnr_y") if c in table.columns])
    if x not in data or "psnr_y" not in data or data.empty:
        from bench.errors import BenchError

        raise BenchError("no backend has both PSNR (bench eval-sr) and cost (bench cost) rows "
                         "in the store yet")
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=150)
    sizes = 30 + 170 * (data.get("params (M)", pd.Series(1.0, index=data.index)) /
                        max(float(data.get("params (M)", pd.Series([1.0])).max()), 1e-9))
    ax.scatter(data[x].clip(lower=1e-3), data["psnr_y"], s=sizes, alpha=0.7, edgecolor="k")
    for name, row in data.iterrows():
        ax.annotate(name, (max(row[x], 1e-3), row["psnr_y"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"{x} at LR 128x128 (log scale)")
    ax.set_ylabel("PSNR-Y (dB), test split")
    ax.set_title("Cost vs quality (marker area ∝ parameters)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    paths = []
    for suffix in (".png", ".pdf"):
        path = out_stem.with_suffix(suffix)
        with atomic.atomic_path(path, suffix=suffix) as tmp:
            fig.savefig(tmp, format=suffix[1:])
        paths.append(path)
    plt.close(fig)
    return paths
