"""Leaderboard, FLOPs-vs-PSNR plot and `bench cost`: all derived from store rows."""

import pytest

from bench.report.leaderboard import leaderboard, plot_flops_psnr, write_leaderboard
from bench.store import ResultStore, Row, load_runs


def _store(tmp_path):
    sr = ResultStore(tmp_path / "eval-sr-x")
    sr.write_manifest({}, device="cpu", command="t")
    for name, psnr in (("bicubic", 30.0), ("edsr", 31.5)):
        sr.append(f"sr-{name}", [Row(sr.run_id, "synthsewer-sr", "sr", name, f"SR:{name}", "all", m, v)
                                 for m, v in (("psnr_y", psnr), ("ssim_y", 0.9))])
    cost = ResultStore(tmp_path / "cost-x")
    cost.write_manifest({}, device="cpu", command="t")
    cost.append("cost-edsr", [Row(cost.run_id, "lr128x128", "cost", "edsr", "-", "all", m, v,
                                  higher_is_better=False)
                              for m, v in (("params", 1.81e6), ("macs", 37.3e9), ("latency_ms", 12.0))])
    return load_runs(tmp_path)


def test_leaderboard_joins_quality_and_cost(tmp_path):
    table = leaderboard(_store(tmp_path))
    assert list(table.index) == ["edsr", "bicubic"]  # sorted by PSNR-Y, best first
    assert table.loc["edsr", "GMACs"] == pytest.approx(37.3)
    assert table.loc["edsr", "params (M)"] == pytest.approx(1.81)
    assert table.loc["bicubic", "GMACs"] != table.loc["bicubic", "GMACs"]  # NaN: no cost row
    paths = write_leaderboard(table, tmp_path / "out", "synthsewer-sr")
    md = paths[0].read_text()
    assert "| edsr | 31.50 | 0.9000 |" in md
    assert table.equals(leaderboard(_store(tmp_path)))  # derived, reproducible
    by_params = leaderboard(_store(tmp_path), sort="params (M)")
    assert list(by_params.index)[0] == "edsr"


def test_flops_psnr_plot_writes_png_and_pdf(tmp_path):
    paths = plot_flops_psnr(leaderboard(_store(tmp_path)), tmp_path / "fig")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_cost_cli_json_and_store(bench_json, tmp_path):
    report = bench_json("cost", "--backend", "edsr", "--repeats", "1", "--lr-size", "32x32",
                        "--out", str(tmp_path))
    assert {"params", "macs", "paper_gflops", "latency_ms"} <= set(report)
    assert report["params"] == pytest.approx(1.81e6, rel=0.01)
    # MACs scale with area: 32x32 is 1/16 of the paper's 128x128 (37.33 G)
    assert report["macs"] == pytest.approx(37.33e9 / 16, rel=0.01)
    frame = load_runs(tmp_path)
    assert set(frame[frame["task"] == "cost"]["metric"]) >= {"params", "macs", "latency_ms"}


def test_cost_cli_dsrnet_student_accounting(bench_json, tmp_path):
    r = bench_json("cost", "--backend", "dsrnet-s", "--repeats", "0", "--out", str(tmp_path))
    assert r["params"] == pytest.approx(3.07e6, rel=0.02)            # modules the forward uses
    assert r["params_paper_equivalent"] == pytest.approx(5.03e6, rel=0.02)  # + dead decoder
    assert r["params_depth_unet"] == pytest.approx(31.0e6, rel=0.02)
    assert r["macs"] == pytest.approx(234.4e9, rel=0.05)
    assert "never call" in r["note"]
