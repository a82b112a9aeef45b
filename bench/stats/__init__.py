"""Uncertainty of the Δ tables: a paired bootstrap over test images (numpy only, no torch).

`bootstrap.py` draws resamples as (B, N) count matrices and takes percentile intervals;
`intervals.py` turns per-cell replays of the stored evaluation state (tasks.base.Replay) into
intervals for every value, Δ and gap closure of a table. Method and scope: docs/uncertainty.md.
"""
