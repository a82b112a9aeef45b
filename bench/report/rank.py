"""Rank agreement: does PSNR rank SR backends the way a downstream task does?

For one task model, each SR backend has a PSNR-Y (its image quality, `bench eval-sr`) and a
task score (the task's Mean on its SR outputs). The agreement is Kendall's τ-b between the two
rankings, computed by `scipy.stats.kendalltau` (τ-b handles ties):

    τ = (P − Q) / sqrt((P + Q + T_x)(P + Q + T_y))

with P concordant pairs, Q discordant pairs, T_x / T_y pairs tied only in x / only in y.
τ = 1: PSNR orders the backends exactly as the task does; 0: no relation; −1: reversed.

Its interval comes from replicates of the task scores (a paired bootstrap over the task's
test images: row b holds every backend's score on the same resampled images), with PSNR held
at its point values: τ_b = τ(PSNR, scores_b), and the interval is the percentile interval of
the τ_b. With only a handful of backends τ moves in steps of 1/(n(n−1)/2) pairs, so an
interval is wide; the table states n.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankAgreement:
    task: str
    model: str
    metric: str
    backends: tuple[str, ...]
    tau: float
    lo: float
    hi: float
    pvalue: float
    n_replicates: int

    @property
    def n(self) -> int:
        return len(self.backends)

    def as_dict(self) -> dict:
        return {"task": self.task, "model": self.model, "metric": self.metric,
                "n_backends": self.n, "backends": " ".join(self.backends), "tau": self.tau,
                "lo": self.lo, "hi": self.hi, "pvalue": self.pvalue,
                "n_replicates": self.n_replicates}


def kendall_tau(x, y) -> float:
    """Kendall's τ-b of two equally long sequences (NaN when either is constant)."""
    from scipy.stats import kendalltau

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"kendall_tau: x and y must be 1-D of one length, got {x.shape} and "
                         f"{y.shape}")
    if len(x) < 2:
        return float("nan")
    return float(kendalltau(x, y).statistic)


def rank_agreement(task: str, model: str, metric: str, backends: list[str], psnr, scores,
                   replicates: np.ndarray | None = None, level: float = 0.95) -> RankAgreement:
    """τ between `psnr` and `scores` (one value per backend, in `backends` order) with, when
    `replicates` (B x n_backends task scores on paired resamples) is given, its percentile
    interval at `level`; without replicates the interval is NaN."""
    from scipy.stats import kendalltau

    psnr, scores = np.asarray(psnr, dtype=float), np.asarray(scores, dtype=float)
    if not (len(backends) == len(psnr) == len(scores)):
        raise ValueError("rank_agreement: one PSNR and one score per backend")
    if len(backends) < 2:
        tau, pvalue = float("nan"), float("nan")
    else:
        result = kendalltau(psnr, scores)
        tau, pvalue = float(result.statistic), float(result.pvalue)
    lo = hi = float("nan")
    n_rep = 0
    if replicates is not None and len(backends) >= 2:
        reps = np.asarray(replicates, dtype=float)
        if reps.ndim != 2 or reps.shape[1] != len(backends):
            raise ValueError(f"rank_agreement: replicates must be (B, {len(backends)}), got "
                             f"{reps.shape}")
        taus = np.array([kendall_tau(psnr, row) for row in reps])
        taus = taus[np.isfinite(taus)]
        n_rep = len(taus)
        if n_rep:
            alpha = (1 - level) / 2
            lo, hi = (float(v) for v in np.quantile(taus, [alpha, 1 - alpha]))
    return RankAgreement(task, model, metric, tuple(backends), tau, lo, hi, pvalue, n_rep)


def to_markdown(rows: list[RankAgreement], level: float = 0.95) -> str:
    """The rank-agreement table: one line per (task, model)."""
    head = (f"| task | model | task metric (Mean) | backends | Kendall τ-b | "
            f"{level:.0%} interval | p (scipy) |\n|---|---|---|---:|---:|---|---:|")
    lines = [head]
    for r in rows:
        interval = "—" if not np.isfinite(r.lo) else f"[{r.lo:+.2f}, {r.hi:+.2f}]"
        tau = "—" if not np.isfinite(r.tau) else f"{r.tau:+.2f}"
        pvalue = "—" if not np.isfinite(r.pvalue) else f"{r.pvalue:.3f}"
        lines.append(f"| {r.task} | {r.model} | {r.metric} | {r.n} | {tau} | {interval} | "
                     f"{pvalue} |")
    return "\n".join(lines)
