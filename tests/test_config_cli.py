"""Config validation, registries and CLI error behaviour (one line, exit code 2)."""
from pathlib import Path

import pytest

from bench.config import load_config
from bench.errors import ConfigError
from bench.registry import Registry, UnknownNameError


def test_profiles_layer_and_overrides():
    smoke = load_config("smoke")
    quick = load_config("quick")
    assert smoke.task.size == "tiny" and quick.task.size == "small"
    cfg = load_config("smoke", overrides=["task.epochs=7", "sr.backends=[bicubic, edsr]"])
    assert cfg.task.epochs == 7 and cfg.sr.backends == ["bicubic", "edsr"]
    assert cfg.fingerprint() != smoke.fingerprint()
    assert load_config("smoke").fingerprint() == smoke.fingerprint()


def test_unknown_key_did_you_mean():
    with pytest.raises(ConfigError, match=r"unknown config key 'task.epoch'.*[Dd]id you mean 'task.epochs'"):
        load_config("smoke", overrides=["task.epoch=3"])


def test_bad_value_names_key(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"task.batch_size"):
        load_config("smoke", overrides=["task.batch_size=1"])
    f = tmp_path / "c.yaml"
    f.write_text("data:\n  n_trian: 3\n")
    with pytest.raises(ConfigError, match=r"c.yaml.*unknown config key 'data.n_trian'.*'data.n_train'"):
        load_config(config_file=f)
    f.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c.yaml line \d+: invalid YAML"):
        load_config(config_file=f)


def test_unknown_profile():
    with pytest.raises(ConfigError, match="(?i)did you mean 'quick'"):
        load_config("quik")


def test_registry_is_lazy_and_suggests():
    reg = Registry("thing", {"alpha": "no_such_module_xyz:attr"})
    assert reg.names() == ["alpha"] and "alpha" in reg  # nothing imported yet
    with pytest.raises(UnknownNameError, match="(?i)did you mean 'alpha'"):
        reg.get("alpah")
    with pytest.raises(ModuleNotFoundError):
        reg.get("alpha")


@pytest.mark.parametrize("args, needle", [
    (("eval-sr", "--backend", "bicubc", "--profile", "smoke"), "did you mean 'bicubic'"),
    (("eval-sr", "--profile", "smoke", "--set", "task.epoch=2"), "did you mean 'task.epochs'"),
    (("run", "--profile", "smoke", "--dataset", "synthsewer-pip"), "did you mean 'synthsewer-pipe'"),
    (("run", "--profile", "smoke", "--model", "fnc"), "did you mean 'segmentation/fcn'"),
    (("eval-sr", "--profile", "smok"), "did you mean 'smoke'"),
    (("cost", "--lr-size", "128by128"), "expected WIDTHxHEIGHT"),
])
def test_cli_user_errors_exit_2_with_one_line(bench_cli, args, needle):
    code, out, err = bench_cli(*args)
    assert code == 2
    assert needle.lower() in err.lower()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_unknown_command_exit_2(bench_cli):
    code, _, err = bench_cli("ls", "backend")
    assert code == 2 and "backends" in err


def test_ls_lists_registries(bench_json):
    names = {r["name"] for r in bench_json("ls", "backends")}
    assert {"bicubic", "edsr", "rcan", "atd", "atd-light", "dsrnet", "dsrnet-s"} <= names
    assert {"synthsewer-sr", "synthsewer-pipe", "synthsewer-cls", "pipe", "sewerml", "srfolder"} <= {
        r["name"] for r in bench_json("ls", "datasets")}
    metrics = {r["name"]: r for r in bench_json("ls", "metrics")}
    assert metrics["psnr_y"]["higher_is_better"] and not metrics["latency_ms"]["higher_is_better"]


def test_allocator_setting_applies_and_can_be_opted_out(monkeypatch):
    """`bench` keeps freed memory in glibc (DSRNet's 36.7 MB maps would otherwise be fresh
    mmaps on every forward); SEWER_BENCH_STOCK_MALLOC=1 leaves the defaults."""
    import ctypes.util
    import sys

    from bench.allocator import keep_freed_memory

    monkeypatch.setenv("SEWER_BENCH_STOCK_MALLOC", "1")
    assert keep_freed_memory().startswith("glibc default")
    monkeypatch.delenv("SEWER_BENCH_STOCK_MALLOC")
    done = keep_freed_memory()
    if sys.platform.startswith("linux") and "libc.so" in (ctypes.util.find_library("c") or ""):
        assert done == f"glibc mallopt mmap_threshold=trim_threshold={1 << 30}"


@pytest.mark.parametrize("args, expected", [
    (("--task", "segmentaton"), "unknown task 'segmentaton'. Did you mean 'segmentation'"),
    (("--set", "sr.hparams.edsr={global_skp: true}", "--backend", "edsr"),
     "sr.hparams.edsr.global_skp: not a hyper-parameter of 'edsr'. Did you mean 'global_skip'"),
    (("--set", "sr.hparams.edrs={global_skip: true}"), "unknown backend 'edrs'. Did you mean 'edsr'"),
    (("--set", "sr.weights.edsr=/nonexistent.safetensors"), "backend 'edsr' is not used"),
    (("--set", "task=5"), "'task' is a section"),
    (("--set", "task.models=[fcnn]"), "unknown task model 'segmentation/fcnn'"),
])
def test_run_boundary_errors_are_one_line(bench_cli, args, expected):
    code, out, err = bench_cli("run", "--profile", "smoke", "--dry-run", *args)
    assert code == 2, err
    assert expected in err and len(err.strip().splitlines()) == 1, err



def test_a_library_warning_is_one_log_line(bench_cli, capsys):
    """Warnings raised during a command print as `warning: <message>`, without the source
    line that raised them; the caller's warning display is restored afterwards."""
    import warnings

    from bench.cli import _one_line_warning

    before = warnings.showwarning
    code, _, _ = bench_cli("ls", "backends")
    assert code == 0 and warnings.showwarning is before
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _one_line_warning
        warnings.warn("dsrnet: L_per skipped: no local VGG19 weights configured", UserWarning)
    err = capsys.readouterr().err
    assert err.strip() == "warning: dsrnet: L_per skipped: no local VGG19 weights configured"
