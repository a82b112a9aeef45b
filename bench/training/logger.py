"""`TrainLogger`: the SR trainer's log.csv, TensorBoard events and progress bar (rank 0)."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

from bench import atomic

log = logging.getLogger(__name__)


class TrainLogger:
    """log.csv (+ TensorBoard, + tqdm) on rank 0; loss means over each `log_every` window."""

    COLUMNS = ("iteration", "loss", "lr", "val_psnr", "elapsed")

    def __init__(self, out_dir: Path, start: int, log_every: int, *, enabled: bool,
                 tensorboard: bool, total: int, progress: bool):
        self.log_every, self.enabled, self.tb_dir = log_every, enabled, None
        self.csv_path = out_dir / "log.csv"
        self._sums: dict[str, torch.Tensor] = {}
        self._n, self._tb, self._bar, self._csv, self._beat = 0, None, None, None, None
        if not enabled:
            return
        kept: list[str] = []
        if start and self.csv_path.exists():  # drop rows written after the checkpoint
            kept = [ln for ln in self.csv_path.read_text().splitlines()[1:]
                    if ln and ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) <= start]
        # atomic: a kill during this rewrite must not lose the rows before the checkpoint
        # (a line cut by a kill mid-append is dropped above); then one row per iteration
        atomic.write_text(self.csv_path, "\n".join([",".join(self.COLUMNS), *kept]) + "\n")
        self._csv = self.csv_path.open("a", buffering=1)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional: the CSV carries the same numbers
                log.warning("tensorboard is not installed; logging to %s only", self.csv_path)
            else:
                self.tb_dir = out_dir / "tb"
                self._tb = SummaryWriter(str(self.tb_dir), purge_step=start or None)
        if progress:
            from tqdm import tqdm
            self._bar = tqdm(total=total, initial=start, desc="train-sr", dynamic_ncols=True)
        else:  # a pipe or CI log: a periodic status line with ETA instead of a bar
            from bench.console import Heartbeat
            self._beat = Heartbeat(f"train-sr {out_dir.name}", total, start_step=start)

    def step(self, it: int, out: dict[str, torch.Tensor], lr: float, val_psnr: float | None,
             elapsed: float, *, force: bool, check_finite: bool) -> None:
        for k, v in out.items():  # summed on the device: no host sync every step
            if k != "sr" and v.numel() == 1:
                self._sums[k] = self._sums.get(k, 0) + v.detach().float()
        self._n += 1
        if self._bar is not None:
            self._bar.update(1)
        if self._beat is not None:
            self._beat.update(it, "" if val_psnr is None else f"val PSNR-Y {val_psnr:.2f} dB")
        if not (force or it % self.log_every == 0):
            return
        means = {k: float(v) / self._n for k, v in self._sums.items()}
        self._sums, self._n = {}, 0
        if check_finite and not math.isfinite(means["total"]):
            raise RuntimeError(f"train-sr: the loss became {means['total']} by iteration {it}; "
                               f"lower 'lr' or set 'grad_clip'")
        if not self.enabled:
            return
        vp = "" if val_psnr is None else f"{val_psnr:.4f}"
        self._csv.write(f"{it},{means['total']:.6g},{lr:.6g},{vp},{elapsed:.2f}\n")
        if self._tb is not None:
            for k, v in means.items():
                self._tb.add_scalar(f"train/{k}", v, it)
            self._tb.add_scalar("train/lr", lr, it)
            if val_psnr is not None:
                self._tb.add_scalar("val/psnr_y", val_psnr, it)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{means['total']:.4g}",
                                  **({"val": f"{val_psnr:.2f}"} if val_psnr is not None else {}))

    def close(self) -> None:
        for h in (self._csv, self._tb, self._bar):
            if h is not None:
                h.close()
