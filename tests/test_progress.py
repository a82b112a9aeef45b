"""Progress in a pipe or CI log: `bench run ... 2>&1 | cat` prints periodic status lines with
an ETA (stderr is not a terminal under pytest's capture). Time is faked, so the test checks
the cadence without waiting for it."""
import pytest

import bench.console


@pytest.mark.slow
def test_run_in_a_pipe_prints_status_lines_with_eta(bench_cli, tmp_path, monkeypatch):
    now = [0.0]

    def fake_clock() -> float:  # every look at the clock: 10 s of "work"
        now[0] += 10.0
        return now[0]

    monkeypatch.setattr(bench.console, "_monotonic", fake_clock)
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))  # train, don't reuse
    code, out, err = bench_cli("run", "--task", "segmentation", "--profile", "smoke",
                               "--model", "fcn", "--out", str(tmp_path / "runs"))
    assert code == 0, err
    beats = [line for line in err.splitlines() if ": step " in line and "ETA" in line]
    assert beats, err
    assert any(line.lstrip().startswith("train fcn (HR): step") for line in beats)
    assert "elapsed" in beats[0]
    assert "[1/1] fcn seed 0 trained on HR" in err          # the per-group line
    assert "GC" not in out or "gap closure" in out           # tables + legend on stdout


def test_sr_training_prints_status_lines_without_a_terminal(tmp_path, monkeypatch):
    import torch

    from bench.training.logger import TrainLogger

    now = [0.0]
    lines: list[str] = []
    monkeypatch.setattr(bench.console, "_monotonic", lambda: now[0])
    monkeypatch.setattr(bench.console, "log", lines.append)
    logger = TrainLogger(tmp_path, 0, 50, enabled=True, tensorboard=False, total=600,
                         progress=False)
    for it in range(1, 601):  # one iteration per (fake) second: 10 minutes of training
        now[0] += 1.0
        logger.step(it, {"total": torch.tensor(0.5)}, 1e-4, None, float(it), force=False,
                    check_finite=True)
    logger.close()
    assert len(lines) >= 10 and all("ETA" in line for line in lines[:-1])
    assert lines[0].startswith(f"train-sr {tmp_path.name}: step 30/600")
