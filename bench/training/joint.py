"""The `joint` protocol of task-driven SR (SR4IR's alternation, Kim et al. CVPR 2024;
docs/task-driven.md): every SR training iteration is

1. an SR step: L_sr + λ_tdp·TDP against the current task model, frozen for that step (the
   trainer's step over `TaskDrivenObjective.training_losses`, unchanged), then
2. a task step (`JointObjective.task_step`, called by the trainer after the SR optimizer's
   step): the task's own loss (`TaskModel.loss_fn`) on SR, HR and CQMix(SR, HR), 1/3 each,
   with the SR network frozen (no_grad, eval mode), on a batch of the task's training images
   and labels, the LR made by the run's degradation.

`task_driven_objective` (the trainer's entry point) builds the objective of every protocol.

The task model starts as the HR-trained one. It is trained by its own AdamW (the task's lr,
weight decay 1e-4, cosine decay over the SR iterations, no warm-up: it starts trained) and
stays outside the objective's parameters (the SR optimizer never sees it). Its weights and
its optimizer state travel in the objective's state_dict as extra state, so `last.pt` holds
them and a resumed training continues exactly. The batch and the CQMix masks of iteration i
come from a generator seeded with (seed, i): nothing random carries over between steps.
With the best SR weights the trainer snapshots the task model (`save_task_model`), so the
published pair comes from one iteration.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import ConfigError
from bench.training.task_driven import TaskDrivenObjective, cqmix, load_task_model

WEIGHT_DECAY = 1e-4  # as the task's own fit (tasks/segmentation/train.py)


class JointObjective(TaskDrivenObjective):
    """TaskDrivenObjective + the task step (see the module docstring)."""

    def __init__(self, model: nn.Module, task_model: Any, lambda_tdp: float, warmup: int,
                 task_samples, degradation, data_seed: int, fit: dict[str, Any],
                 iterations: int, seed: int, sr_forward: Callable | None = None):
        super().__init__(model, task_model, lambda_tdp, warmup, False, sr_forward)
        self.samples = list(task_samples)
        self.batch_size = min(int(fit["batch_size"]), len(self.samples))
        if self.batch_size < 2:
            raise ConfigError(f"joint: the task step needs at least 2 training images "
                              f"(batch_size {fit['batch_size']}, {len(self.samples)} images)")
        self.lr, self.iterations, self.seed = float(fit["lr"]), iterations, seed
        self.degradation, self.data_seed = degradation, data_seed
        self._loss = task_model.loss_fn([s.target for s in self.samples])
        self._opt = (torch.optim.AdamW(self._task_params(), lr=self.lr,
                                       weight_decay=WEIGHT_DECAY),)

    def _task_params(self) -> list[nn.Parameter]:
        return [p for net in self.task_model.networks().values() for p in net.parameters()]

    # --- the task model's state rides in the objective's state_dict (last.pt) -------------
    def get_extra_state(self) -> dict[str, Any]:
        nets = self.task_model.networks()
        return {"task": {part: net.state_dict() for part, net in nets.items()},
                "task_optimizer": self._opt[0].state_dict()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        for part, net in self.task_model.networks().items():
            net.load_state_dict(state["task"][part])
        # a copy: Optimizer.load_state_dict may keep the given tensors, shared with the source
        self._opt[0].load_state_dict(copy.deepcopy(state["task_optimizer"]))

    # --- the task step ----------------------------------------------------------------------
    def _lr_image(self, sample) -> torch.Tensor:  # type: ignore[no-untyped-def]
        from bench.degrade import degrade, sample_seed, to_tensor

        lr = sample.lr if sample.lr is not None else degrade(
            sample.hr, self.degradation, sample_seed(self.data_seed, sample.id))
        return to_tensor(lr)

    @torch.no_grad()
    def _sr(self, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
        """SR of each sample's LR, quantised as the task sees SR images (uint8), at HR size."""
        net, device = self.model, self.iteration.device
        was = net.training
        net.eval()
        out = []
        for s in batch:
            sr = net(self._lr_image(s).to(device)).float().clamp(0, 1)
            h, w = s.hr.shape[:2]
            if tuple(sr.shape[-2:]) != (h, w):
                sr = F.interpolate(sr, size=(h, w), mode="bilinear", align_corners=False)
            out.append(torch.round(sr * 255) / 255)
        net.train(was)
        return torch.cat(out)

    def task_step(self) -> dict[str, torch.Tensor]:
        """One task step at the current iteration (after the SR step that advanced it)."""
        from bench.degrade import to_tensor
        from bench.training.data import iteration_seed

        it = int(self.iteration)
        gen = torch.Generator().manual_seed(iteration_seed(self.seed + 2, it, 0))
        idx = torch.randperm(len(self.samples), generator=gen)[:self.batch_size].tolist()
        batch = [self.samples[i] for i in idx]
        if len({s.hr.shape for s in batch}) > 1:
            raise ConfigError("joint: the task's training images differ in size; the task "
                              "step batches them at their own size")
        device = self.iteration.device
        hr = torch.cat([to_tensor(s.hr) for s in batch]).to(device)
        sr = self._sr(batch)  # SR frozen: no graph reaches it
        mix, _ = cqmix(sr, hr, generator=gen)
        targets = [s.target for s in batch]
        nets = self.task_model.networks().values()
        for net in nets:
            net.train().requires_grad_(True)
        try:
            parts = {k: self._loss(x, targets) for k, x in (("sr", sr), ("hr", hr),
                                                            ("cqmix", mix))}
            loss = sum(parts.values()) / 3
            if not torch.isfinite(loss):
                raise FloatingPointError(f"joint: the task loss is {loss.item()} at "
                                         f"iteration {it}; lower task.lr")
            opt = self._opt[0]
            for group in opt.param_groups:  # cosine over the SR iterations, from the task lr
                group["lr"] = self.lr * 0.5 * (1 + math.cos(math.pi * (it - 1) / self.iterations))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        finally:
            for net in nets:
                net.eval().requires_grad_(False)
        return {"task": loss.detach(), **{f"task_{k}": v.detach() for k, v in parts.items()}}

    def save_task_model(self, directory: Path) -> None:
        """The task model as it is now (the trainer calls this with the best SR weights)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.task_model.save(directory)


def joint_objective(model: nn.Module, task_model: Any, cfg: Any, sr_forward: Callable
                    ) -> JointObjective:
    """The trainer's `joint` objective from its config (`cfg.task_driven` filled by the
    harness with the task's fit settings and dataset)."""
    from bench.datasets import open_dataset

    td = cfg.task_driven
    if not td.data or not td.fit:
        raise ConfigError("train-sr: protocol joint needs the task's data and fit settings "
                          "(sr.task_driven; the harness fills them in)")
    data = dict(td.data)
    root = data.pop("data_root", None)
    train = open_dataset(data.pop("name"), **data,
                         data_root=Path(root) if root else None).split("train")
    return JointObjective(model, task_model, td.lambda_tdp, td.warmup, train, cfg.degradation,
                          int(td.data.get("seed", 0)), td.fit, cfg.iterations, cfg.seed,
                          sr_forward)


def task_driven_objective(model: nn.Module, cfg: Any, needs_reference: bool,
                          device: torch.device, sr_forward: Callable) -> nn.Module:
    """The trainer's entry point: wrap `model` when `cfg.objective` is task-driven."""
    if cfg.objective != "task-driven":
        return model
    td = cfg.task_driven
    if td is None:
        raise ConfigError("train-sr: objective task-driven needs its task model "
                          "(sr.task_driven; the harness fills it in)")
    if td.protocol == "s2t":  # the harness trains s2t's SR network as frozen
        raise ConfigError("train-sr: protocol s2t trains its SR network with protocol frozen "
                          "(its task model is fine-tuned by bench run); see "
                          "docs/task-driven.md")
    task = load_task_model(td.task, td.model, td.settings, td.directory, device)
    if td.protocol == "joint":
        if needs_reference:
            raise ConfigError("train-sr: protocol joint is implemented for single-image SR "
                              "backends only")
        return joint_objective(model, task, cfg, sr_forward)
    return TaskDrivenObjective(model, task, td.lambda_tdp, td.warmup, needs_reference,
                               sr_forward)
