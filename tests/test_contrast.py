"""Paired contrasts between a derived SR column and its base (bench/report/contrast.py): the
interval is that of the per-resample difference, on the table's own resamples."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.contrast import derived_pairs, to_frame, to_markdown
from bench.report.delta import delta_tables
from bench.stats.bootstrap import Settings, percentile_interval
from bench.stats.intervals import Resampled
from tasks.segmentation.metrics import SegmentationReplay

CLASSES = ["JO", "IL"]


def _counts(rng, n, quality):
    size = rng.integers(50, 400, (n, 3))
    tp = rng.binomial(size, quality)
    fp = rng.binomial(size - tp, 0.5)
    return np.stack([tp, fp, size - tp - fp], axis=2)


def _replay(counts):
    return SegmentationReplay({"counts": counts, "image_ids": np.array(range(len(counts)), str)},
                              CLASSES)


def test_derived_pairs_name_only_variants_whose_base_is_a_column():
    assert derived_pairs(["edsr", "edsr+td-frozen", "rcan+td-s2t", "dsrnet"]) == \
        [("edsr+td-frozen", "edsr")]
    assert derived_pairs(["edsr+td-joint", "edsr"]) == [("edsr+td-joint", "edsr")]
    assert derived_pairs(["bicubic", "edsr"]) == []


def _frame_and_states(seeds=(0, 1)):
    """Store-like rows and replays of HR/LR/SR(edsr)/SR(edsr+td-frozen) per seed."""
    rows, replays = [], {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        q = {"HR": 0.75, "LR": 0.55, "SR:edsr": 0.65, "SR:edsr+td-frozen": 0.68}
        reps = {v: _replay(_counts(rng, 40, p)) for v, p in q.items()}
        replays[seed] = reps
        for v, rep in reps.items():
            w = np.ones((1, 40))
            vals = rep.values(w)[0]
            for (cls, metric), value in zip(rep.keys, vals):
                rows.append({"task": "segmentation", "model": "fcn", "seed": seed, "variant": v,
                             "cls": cls, "metric": metric, "value": value})
    return pd.DataFrame(rows), replays


def test_contrast_interval_is_the_percentile_interval_of_the_paired_difference():
    frame, replays = _frame_and_states()
    settings = Settings(bootstrap=400, seed=3)
    res = Resampled(replays, settings)
    backends = ["edsr", "edsr+td-frozen"]
    (table,) = delta_tables(frame, "segmentation", "iou", classes=CLASSES, backends=backends,
                            summary_rows=("Mean",), resampled={"fcn": res})
    (c,) = table.contrasts
    assert (c.a, c.b) == ("edsr+td-frozen", "edsr")
    # point value: the difference of the seed means, in points of %
    assert np.isclose(c.diff["Mean"], table.mean.loc["Mean", "SR(edsr+td-frozen)"]
                      - table.mean.loc["Mean", "SR(edsr)"])
    # interval: from the same replicates as the table's cells, differenced per resample
    keys = [(r, "iou") for r in ["JO", "IL", "Mean"]]
    a, b = res.variant("SR:edsr+td-frozen", keys), res.variant("SR:edsr", keys)
    lr, hr = res.variant("LR", keys), res.variant("HR", keys)
    lo, hi = percentile_interval((a - b) * 100, settings.level)
    assert np.allclose(c.diff_lo.values, lo) and np.allclose(c.diff_hi.values, hi)
    glo, ghi = percentile_interval((a - b) / (hr - lr), settings.level)
    assert np.isclose(c.gc_lo["Mean"], glo[2]) and np.isclose(c.gc_hi["Mean"], ghi[2])
    assert np.isclose(c.gc["Mean"], table.gap.loc["Mean", "edsr+td-frozen"]
                      - table.gap.loc["Mean", "edsr"])
    # the paired interval is narrower than comparing the two columns' own intervals by eye
    iv = table.intervals
    naive = (iv.hi.loc["Mean", "SR(edsr+td-frozen)"] - iv.lo.loc["Mean", "SR(edsr)"]) - \
        (iv.lo.loc["Mean", "SR(edsr+td-frozen)"] - iv.hi.loc["Mean", "SR(edsr)"])
    assert c.diff_hi["Mean"] - c.diff_lo["Mean"] < naive
    md = to_markdown(table, table.contrasts)
    assert "SR(edsr+td-frozen) − SR(edsr)" in md and "GC(edsr+td-frozen) − GC(edsr)" in md
    assert set(to_frame(table.contrasts).columns) >= {"edsr+td-frozen vs edsr: SR diff lo",
                                                       "edsr+td-frozen vs edsr: GC diff hi"}


def test_no_contrast_without_a_base_column():
    frame, replays = _frame_and_states(seeds=(0,))
    frame = frame[frame["variant"] != "SR:edsr"]
    (table,) = delta_tables(frame, "segmentation", "iou", classes=CLASSES,
                            backends=["edsr+td-frozen"], summary_rows=("Mean",),
                            resampled={"fcn": Resampled(
                                {0: {k: v for k, v in replays[0].items() if k != "SR:edsr"}},
                                Settings(bootstrap=50))})
    assert table.contrasts == [] and to_markdown(table, []) == ""
