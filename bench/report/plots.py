"""The FLOPs-vs-PSNR plot (the paper's Figure 7) from a leaderboard table.

Axis: a backend that costs (next to) nothing, like bicubic with 0 GMACs, sits at 0 on a
symmetric-log x axis (linear up to one decade below the cheapest costly backend, logarithmic
above), instead of being clipped to 1e-3 with five empty decades in between. Labels are
placed away from the frame: right of the marker, or left of it in the right part of the
axes, below it near the top; `label_boxes_inside()` checks the result.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from bench import atomic
from bench.errors import BenchError

ZERO_FRACTION = 1e-4  # a cost below this fraction of the largest is "free" (drawn at 0)


def _linthresh(values: pd.Series) -> float:
    costly = values[values > ZERO_FRACTION * float(values.max())]
    if costly.empty:
        return 1.0
    return 10.0 ** math.floor(math.log10(float(costly.min())) - 1)


def flops_psnr_figure(table: pd.DataFrame, x: str = "GMACs", title: str = ""):
    """(figure, axes) of cost vs PSNR-Y, marker area ∝ parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    need = [c for c in (x, "psnr_y") if c in table.columns]
    data = table.dropna(subset=need) if len(need) == 2 else table.iloc[0:0]
    if data.empty:
        raise BenchError("no backend has both PSNR (bench eval-sr) and cost (bench cost) rows "
                         "in the selection; see `bench leaderboard` for what the store holds")
    xs = data[x].astype(float).clip(lower=0.0)
    free = xs <= ZERO_FRACTION * float(xs.max())
    xs = xs.where(~free, 0.0)
    params = data["params (M)"] if "params (M)" in data else pd.Series(1.0, index=data.index)
    sizes = 30 + 170 * params / max(float(params.max()), 1e-9)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=150)
    ax.scatter(xs, data["psnr_y"], s=sizes, alpha=0.7, edgecolor="k", zorder=3)
    thresh = _linthresh(xs)
    ax.set_xscale("symlog", linthresh=thresh, linscale=0.5)
    top = float(xs.max()) if float(xs.max()) > 0 else 1.0
    ax.set_xlim(-0.3 * thresh, top * 3)
    lo, hi = float(data["psnr_y"].min()), float(data["psnr_y"].max())
    pad = max(0.15 * (hi - lo), 0.05)
    ax.set_ylim(lo - pad, hi + pad)
    xlabel = f"{x} (0 = free; symmetric log scale)" if free.any() else f"{x} (log scale)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PSNR-Y (dB), test split")
    ax.set_title(title or "Cost vs quality (marker area ∝ parameters)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    to_axes = ax.transData + ax.transAxes.inverted()
    for name, xv, yv in zip(data.index, xs, data["psnr_y"]):
        fx, fy = to_axes.transform((xv, yv))
        right = fx > 0.7
        high = fy > 0.85
        ax.annotate(str(name), (xv, yv), textcoords="offset points",
                    xytext=(-7 if right else 7, -9 if high else 5),
                    ha="right" if right else "left", va="top" if high else "bottom", fontsize=8)
    return fig, ax


def label_boxes_inside(fig, ax) -> bool:
    """True when every annotation's text box lies inside the axes frame."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    for text in ax.texts:
        box = text.get_window_extent(renderer)
        if box.x0 < frame.x0 - 0.5 or box.x1 > frame.x1 + 0.5 or \
                box.y0 < frame.y0 - 0.5 or box.y1 > frame.y1 + 0.5:
            return False
    return True


def plot_flops_psnr(table: pd.DataFrame, out_stem: Path, x: str = "GMACs",
                    title: str = "") -> list[Path]:
    """PNG and PDF of `flops_psnr_figure` at `out_stem`."""
    import matplotlib.pyplot as plt

    fig, _ = flops_psnr_figure(table, x, title)
    paths = []
    for suffix in (".png", ".pdf"):
        path = out_stem.with_suffix(suffix)
        with atomic.atomic_path(path, suffix=suffix) as tmp:
            fig.savefig(tmp, format=suffix[1:])
        paths.append(path)
    plt.close(fig)
    return paths
