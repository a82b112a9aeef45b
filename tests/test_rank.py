"""Rank agreement (bench/report/rank.py): Kendall τ against scipy on known rankings."""
import numpy as np
import pytest
from scipy.stats import kendalltau

from bench.report.rank import kendall_tau, rank_agreement, to_markdown


@pytest.mark.parametrize("x, y, expected", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),        # same order
    ([1, 2, 3, 4], [40, 30, 20, 10], -1.0),       # reversed
    ([1, 2, 3, 4], [20, 10, 40, 30], 1 / 3),      # 4 concordant, 2 discordant of 6 pairs
])
def test_kendall_tau_on_known_rankings(x, y, expected):
    assert kendall_tau(x, y) == pytest.approx(expected, abs=1e-12)
    assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)


def test_kendall_tau_b_with_ties_equals_scipy():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = rng.integers(0, 4, size=7).astype(float)
        y = rng.integers(0, 4, size=7).astype(float)
        if len(set(x)) < 2 or len(set(y)) < 2:
            continue
        assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)


def test_rank_agreement_interval_from_replicates():
    psnr = [30.0, 31.0, 32.0, 33.0, 34.0]
    scores = [0.50, 0.52, 0.55, 0.58, 0.60]
    rng = np.random.default_rng(1)
    # replicates: small noise keeps the order -> every τ_b = 1 -> interval [1, 1]
    reps = np.array(scores) + rng.normal(0, 1e-4, size=(200, 5))
    r = rank_agreement("segmentation", "fcn", "iou", list("abcde"), psnr, scores, reps)
    assert r.tau == pytest.approx(1.0)
    assert (r.lo, r.hi) == (pytest.approx(1.0), pytest.approx(1.0))
    assert r.n_replicates == 200
    # large noise: the interval widens and contains the point value
    noisy = np.array(scores) + rng.normal(0, 0.05, size=(500, 5))
    r2 = rank_agreement("segmentation", "fcn", "iou", list("abcde"), psnr, scores, noisy)
    assert r2.lo < 1.0 and r2.lo <= r2.tau <= r2.hi
    taus = [kendalltau(psnr, row).statistic for row in noisy]
    assert r2.lo == pytest.approx(np.quantile(taus, 0.025))
    assert "Kendall τ-b" in to_markdown([r, r2])


def test_rank_agreement_refuses_misaligned_inputs():
    with pytest.raises(ValueError, match="one PSNR and one score"):
        rank_agreement("t", "m", "iou", ["a", "b"], [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="replicates must be"):
        rank_agreement("t", "m", "iou", ["a", "b"], [1, 2], [1, 2], np.zeros((3, 3)))
