"""Leaderboard, FLOPs-vs-PSNR plot and `bench cost`: all derived from an explicit selection of
store rows, never mixing selections, never writing over committed files by default."""
import io
import json
import subprocess
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.report.leaderboard import build, leaderboard, rich_tables, write_leaderboard
from bench.report.plots import flops_psnr_figure, label_boxes_inside, plot_flops_psnr
from bench.report.selection import annotate, parse_where
from bench.store import ResultStore, Row, load_runs

REPO = Path(__file__).resolve().parents[1]
QUALITY = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


def _eval_sr(root: Path, name: str, profile: str, n_test: int, psnr: dict, created: str):
    """An eval-sr run folder as `bench eval-sr` writes it (manifest config + n_images rows)."""
    store = ResultStore(root / name)
    store.write_manifest({"profile": profile, "degradation": {"scale": 4},
                          "data": {"seed": 0}, "sr": {"eval": {"n_test": n_test}}},
                         device="cpu", command="t", extra={"dataset": "synthsewer-sr"})
    for backend, value in psnr.items():
        rows = [Row(store.run_id, "synthsewer-sr", "sr", backend, f"SR:{backend}", "all", m,
                    value if m.startswith("psnr") else 0.9) for m in QUALITY]
        rows.append(Row(store.run_id, "synthsewer-sr", "sr", backend, f"SR:{backend}", "all",
                        "n_images", float(n_test)))
        store.append(f"sr-{backend}", rows)
    manifest = json.loads((store.run_dir / "manifest.json").read_text())
    manifest["created"] = created
    (store.run_dir / "manifest.json").write_text(json.dumps(manifest))


def _cost(root: Path, name: str, lr_size: str, costs: dict, threads: int = 2):
    store = ResultStore(root / name)
    store.write_manifest({}, device="cpu", command="t",
                         extra={"task": "cost", "lr_size": lr_size, "device": "cpu",
                                "threads": threads, "precision": "fp32"})
    for backend, (macs, latency) in costs.items():
        metrics = {"params": 1.81e6, "macs": macs, "latency_ms": latency,
                   "latency_q1_ms": latency * 0.9, "latency_q3_ms": latency * 1.1}
        store.append(f"cost-{backend}", [Row(store.run_id, f"lr{lr_size}", "cost", backend, "-",
                                             "all", m, v, higher_is_better=False)
                                         for m, v in metrics.items()])


def _mixed_store(root: Path) -> Path:
    """The issue's case: quick eval-sr of bicubic + edsr, then a newer smoke eval-sr of bicubic."""
    _eval_sr(root, "eval-sr-quick", "quick", 16, {"bicubic": 40.57, "edsr": 41.09},
             "2026-01-01T10:00:00")
    _eval_sr(root, "eval-sr-smoke", "smoke", 2, {"bicubic": 38.53}, "2026-01-02T10:00:00")
    _cost(root, "cost-128", "128x128", {"edsr": (37.3e9, 550.0), "bicubic": (0.0, 4.5)})
    _cost(root, "cost-64", "64x64", {"edsr": (9.3e9, 140.0)})
    return root


def _frame(root: Path):
    return annotate(load_runs(root), root)


def test_smoke_and_quick_rows_are_never_ranked_together(tmp_path):
    frame = _frame(_mixed_store(tmp_path))
    default = build(frame)
    # the newest complete selection: the smoke one, with only its own backend
    assert default.quality.keys["profile"] == "smoke" and default.quality.keys["n_test"] == "2"
    assert list(default.table.dropna(subset=["psnr_y"]).index) == ["bicubic"]
    assert default.table.loc["bicubic", "psnr_y"] == pytest.approx(38.53)
    assert "profile smoke" in default.title() and "2 images" in default.title()
    assert any("profile=quick" in line and "--where profile=quick" in line
               for line in default.notes())
    quick = build(frame, where={"profile": "quick"})
    assert quick.table.loc["bicubic", "psnr_y"] == pytest.approx(40.57)
    assert list(quick.table.dropna(subset=["psnr_y"]).index) == ["edsr", "bicubic"]
    # every ranked PSNR comes from exactly one selection
    for board in (default, quick):
        ranked = frame[(frame["task"] == "sr") & frame["model"].isin(
            board.table.dropna(subset=["psnr_y"]).index) & (frame["metric"] == "psnr_y")]
        chosen = ranked[ranked["profile"] == board.quality.keys["profile"]]
        assert set(board.table["psnr_y"].dropna()) <= set(chosen["value"])


def test_cost_rows_from_other_lr_sizes_are_not_mixed(tmp_path):
    board = build(_frame(_mixed_store(tmp_path)), where={"profile": "quick"})
    assert board.cost.keys == {"lr_size": "128x128"}  # the paper's size by default
    assert board.table.loc["edsr", "GMACs"] == pytest.approx(37.3)
    assert board.table.loc["edsr", "latency_ms"] == pytest.approx(550.0)
    assert "2 thread(s)" in board.title() and "fp32" in board.title()
    small = build(_frame(tmp_path), where={"profile": "quick", "lr_size": "64x64"})
    assert small.table.loc["edsr", "GMACs"] == pytest.approx(9.3)
    assert small.table["GMACs"].drop("edsr").isna().all()  # bicubic has no 64x64 cost row


def test_leaderboard_sort_write_and_fit_80_columns(tmp_path):
    from rich.console import Console

    board = build(_frame(_mixed_store(tmp_path)), where={"profile": "quick"})
    assert list(board.table.index) == ["edsr", "bicubic"]
    assert list(leaderboard(_frame(tmp_path), sort="GMACs", where={"profile": "quick"}).index)[0] \
        == "bicubic"
    paths = write_leaderboard(board, tmp_path / "out")
    md = paths[0].read_text()
    assert "| edsr | 41.09 | 0.9000 |" in md and "profile quick" in md
    assert "495.0–605.0" in md  # latency IQR
    console = Console(width=80, record=True, file=io.StringIO())
    for t in rich_tables(board, 80):
        console.print(t)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80


def test_where_errors_are_one_line_with_did_you_mean():
    assert parse_where(["profile=quick", "n_test=16"]) == {"profile": "quick", "n_test": "16"}
    with pytest.raises(BenchError, match="Did you mean 'profile'"):
        parse_where(["profil=quick"])
    with pytest.raises(BenchError, match="expected KEY=VALUE"):
        parse_where(["profile"])


def test_flops_psnr_labels_inside_and_free_backend_at_zero(tmp_path):
    board = build(_frame(_mixed_store(tmp_path)), where={"profile": "quick"})
    fig, ax = flops_psnr_figure(board.table, title=board.title())
    assert ax.get_xscale() == "symlog"
    lo, hi = ax.get_xlim()
    assert lo < 0 < 37.3 < hi and hi < 37.3 * 10  # bicubic at 0, no empty decades
    assert label_boxes_inside(fig, ax)
    paths = plot_flops_psnr(board.table, tmp_path / "fig")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_leaderboard_cli_defaults_leave_results_untouched(bench_cli, bench_json, tmp_path):
    store = _mixed_store(tmp_path / "runs")
    before = subprocess.run(["git", "status", "--porcelain", "results/"], cwd=REPO,
                            capture_output=True, text=True).stdout
    result = bench_json("leaderboard", "--out", str(store), "--profile", "quick")
    assert result["selection"]["quality"]["keys"]["profile"] == "quick"
    assert all(Path(f).parent == store / "reports" for f in result["files"])
    plot = bench_json("plot", "flops-psnr", "--out", str(store), "--profile", "quick")
    assert all(Path(f).parent == store / "reports" for f in plot["files"])
    after = subprocess.run(["git", "status", "--porcelain", "results/"], cwd=REPO,
                           capture_output=True, text=True).stdout
    assert after == before
    code, _, err = bench_cli("leaderboard", "--out", str(store), "--where", "profil=quick")
    assert code == 2 and "Did you mean 'profile'" in err


def test_perf_commands_reject_options_they_cannot_use(bench_cli):
    code, _, err = bench_cli("perf", "matching", "--profile", "smoke")
    assert code == 2 and "does not take --profile" in err


def test_cost_cli_prints_threads_and_spread(bench_cli, tmp_path):
    code, out, _ = bench_cli("cost", "--backend", "bicubic", "--lr-size", "32x32", "--repeats",
                             "5", "--out", str(tmp_path))
    assert code == 0
    assert "thread(s)" in out and "fp32" in out and "IQR" in out and "cpu" in out
    assert "5 (" in out  # repeats (warm-up) column


def test_cost_repeats_0_keeps_the_measured_latency(bench_json, tmp_path):
    first = bench_json("cost", "--backend", "bicubic", "--lr-size", "32x32", "--repeats", "3",
                       "--out", str(tmp_path))
    assert first["latency_ms"] is not None and first["latency_q1_ms"] <= first["latency_q3_ms"]
    again = bench_json("cost", "--backend", "bicubic", "--lr-size", "32x32", "--repeats", "0",
                       "--out", str(tmp_path))
    assert again["latency_ms"] is None
    rows = load_runs(tmp_path)
    stored = rows[(rows["metric"] == "latency_ms") & (rows["model"] == "bicubic")]["value"]
    assert list(stored) == [pytest.approx(first["latency_ms"])]


def test_cost_cli_json_and_store(bench_json, tmp_path):
    report = bench_json("cost", "--backend", "edsr", "--repeats", "1", "--lr-size", "32x32",
                        "--out", str(tmp_path))
    assert {"params", "macs", "paper_gflops", "latency_ms", "latency_q1_ms", "threads"} <= set(report)
    assert report["params"] == pytest.approx(1.81e6, rel=0.01)
    # MACs scale with area: 32x32 is 1/16 of the paper's 128x128 (37.33 G)
    assert report["macs"] == pytest.approx(37.33e9 / 16, rel=0.01)
    frame = _frame(tmp_path)
    cost = frame[frame["task"] == "cost"]
    assert set(cost["metric"]) >= {"params", "macs", "latency_ms"}
    assert set(cost["lr_size"]) == {"32x32"} and set(cost["threads"]) == {str(report["threads"])}


def test_cost_cli_dsrnet_student_accounting(bench_json, tmp_path):
    # --profile paper: the registered (Table 2) sizes; the quick profile's half-width DSRNet
    # is what quick runs train, and `bench cost` at quick counts that one
    r = bench_json("cost", "--backend", "dsrnet-s", "--repeats", "0", "--out", str(tmp_path),
                   "--profile", "paper")
    quick = bench_json("cost", "--backend", "dsrnet-s", "--repeats", "0", "--out",
                       str(tmp_path / "q"), "--profile", "quick")
    assert quick["params"] < 0.5 * r["params"] and quick["macs"] < 0.5 * r["macs"]
    assert r["params"] == pytest.approx(3.07e6, rel=0.02)            # modules the forward uses
    assert r["params_paper_equivalent"] == pytest.approx(5.03e6, rel=0.02)  # + dead decoder
    assert r["params_depth_unet"] == pytest.approx(31.0e6, rel=0.02)
    assert r["macs"] == pytest.approx(234.4e9, rel=0.05)
    assert "never call" in r["note"]


def test_cost_counts_the_profiles_sizes(bench_json, tmp_path):
    """A cost row describes the network that runs: the quick profile's RCAN (2 x 10 RCABs,
    sr.hparams.rcan) is counted as that, the paper profile's as the published 10 x 20."""
    quick = bench_json("cost", "--backend", "rcan", "--repeats", "0", "--lr-size", "32x32",
                       "--out", str(tmp_path / "q"), "--profile", "quick")
    paper = bench_json("cost", "--backend", "rcan", "--repeats", "0", "--lr-size", "32x32",
                       "--out", str(tmp_path / "p"), "--profile", "paper")
    assert paper["params"] == pytest.approx(15.59e6, rel=0.01)
    assert quick["params"] < 0.15 * paper["params"]
