"""One WIDTHxHEIGHT parser (bench.sizes.parse_size) behind every size option."""
from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.sizes import format_size, parse_size


def test_width_first_to_height_width():
    assert parse_size("128x96", "--lr-size") == (96, 128)
    assert parse_size(" 112X80 ") == (80, 112)
    assert format_size(parse_size("112x80")) == "112x80"


@pytest.mark.parametrize("bad", ["128", "128x", "x96", "128by96", "0x96", "128x0", "-1x96",
                                 "12.5x96", "128x96x3", "", "ax b"])
def test_bad_sizes_raise_with_the_text(bad):
    with pytest.raises(BenchError) as e:
        parse_size(bad, "--lr-size")
    msg = str(e.value)
    assert f"--lr-size {bad!r}" in msg and "expected WIDTHxHEIGHT, e.g. 128x96" in msg


def test_bench_cost_and_cost_report_agree(bench_json, tmp_path):
    """`bench cost --lr-size`, cost_report(lr_size="WxH") and a (h, w) tuple: one order."""
    from bench.cost import cost_report

    cli = bench_json("cost", "--backend", "bicubic", "--repeats", "0", "--lr-size", "24x16",
                     "--out", str(tmp_path))
    by_text = cost_report("bicubic", lr_size="24x16", latency_repeats=0)
    by_tuple = cost_report("bicubic", lr_size=(16, 24), latency_repeats=0)
    assert cli["lr_size"] == by_text["lr_size"] == by_tuple["lr_size"] == [16, 24]
    assert cli["ref_size"] is None
    ref = cost_report("bicubic", lr_size="24x16", ref_size="96x64", latency_repeats=0)
    assert ref["lr_size"] == [16, 24]


def test_bad_size_is_one_line_on_every_command(bench_cli):
    for cmd in (("cost", "--backend", "bicubic"), ("perf", "backend", "--backend", "edsr")):
        code, _, err = bench_cli(*cmd, "--lr-size", "24by16")
        assert code != 0 and "'24by16': expected WIDTHxHEIGHT" in err, (cmd, err)


def test_perf_backend_gets_the_same_order(bench_cli, monkeypatch):
    import bench.perf

    seen = {}

    def fake(name, lr_size, **kw):
        seen.update(name=name, lr_size=tuple(lr_size), **kw)
        return {"backend": name}

    monkeypatch.setattr(bench.perf, "backend_perf", fake)
    code, _, err = bench_cli("perf", "backend", "--backend", "edsr", "--lr-size", "24x16",
                             "--no-memory", "--json")
    assert code == 0, err
    assert seen["lr_size"] == parse_size("24x16") == (16, 24) and seen["memory"] is False


def test_benchmark_script_parses_the_same_way(monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_backends.py"
    spec = importlib.util.spec_from_file_location("bench_backends_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    seen = {}
    monkeypatch.setattr(mod, "run", lambda backends, lr_size, *a: seen.setdefault(
        "lr_size", lr_size) and {"lr_size": list(lr_size), "rows": []})
    assert mod.main(["--backends", "edsr", "--lr-size", "24x16", "--json"]) == 0
    assert seen["lr_size"] == (16, 24)
    with pytest.raises(SystemExit):
        mod.main(["--lr-size", "24by16"])
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err
