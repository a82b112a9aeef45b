"""`TaskTrainLog`: what a task model's training leaves to look at, like SR training's
(bench/training/logger.py): `log.csv` (step, total, loss, note, elapsed) and TensorBoard
events (`tb/`, when tensorboard is installed), in `<task model cache folder>-log/`; the folder
is printed once when the training starts.

It is fed by the progress callback every task model already calls as
`progress(step, total, text)` with a text such as "loss 0.031" or "epoch 2/5", so the models
need no logging code of their own; a step whose text carries no loss gets an empty `loss`.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

_LOSS = re.compile(r"\bloss\s+([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))", re.IGNORECASE)
COLUMNS = ("step", "total", "loss", "note", "elapsed")


def log_dir(model_dir: Path) -> Path:
    """Where the logs of the task model cached in `model_dir` go (beside it: the model's
    folder is published atomically and holds only what `load` reads)."""
    return model_dir.with_name(model_dir.name + "-log")


class TaskTrainLog:
    def __init__(self, model_dir: Path, what: str, tensorboard: bool = True):
        from bench.console import log

        self.dir = log_dir(Path(model_dir))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.dir / "log.csv"
        # a plain write: a log is not a result (a killed training's log is simply restarted)
        self.csv_path.write_text(",".join(COLUMNS) + "\n")
        self._csv = self.csv_path.open("a", buffering=1)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional: the CSV carries the same numbers
                pass
            else:
                self._tb = SummaryWriter(str(self.dir / "tb"))
        self.t0 = time.perf_counter()
        log(f"training {what}: logs in {self.dir} (log.csv"
            f"{', TensorBoard tb/' if self._tb is not None else ''})")

    def step(self, step: int, total: int, text: str) -> None:
        m = _LOSS.search(text or "")
        loss = float(m[1]) if m else None
        note = (text or "").replace(",", ";").replace("\n", " ")
        self._csv.write(f"{step},{total},{'' if loss is None else f'{loss:.6g}'},{note},"
                        f"{time.perf_counter() - self.t0:.2f}\n")
        if self._tb is not None and loss is not None:
            self._tb.add_scalar("train/loss", loss, step)

    def close(self) -> None:
        self._csv.close()
        if self._tb is not None:
            self._tb.close()
