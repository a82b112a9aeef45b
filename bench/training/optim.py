"""The trainer's optimisation state: generator (+ discriminator) Adam, cosine schedules, AMP
grad scaler, gradient clipping; one `state_dict` so a checkpoint restores all of it."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bench.training.config import SRTrainConfig


class Optimizers:
    """Generator (+ discriminator) Adam, their cosine schedules and the AMP grad scaler."""

    def __init__(self, model: nn.Module, cfg: SRTrainConfig, use_amp: bool, device: torch.device):
        gen = (model.generator_parameters() if callable(getattr(model, "generator_parameters", None))
               else model.parameters())
        self.gen_params = [p for p in gen if p.requires_grad]  # e.g. EDSR's frozen mean shift
        kw = dict(lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.opts = {"g": torch.optim.Adam(self.gen_params, **kw)}
        if callable(getattr(model, "discriminator_step", None)):
            self.opts["d"] = torch.optim.Adam(
                [p for p in model.discriminator.parameters() if p.requires_grad], **kw)
        self.scheds = {k: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=cfg.iterations, eta_min=cfg.eta_min) for k, o in self.opts.items()}
        self.scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
        self.grad_clip = cfg.grad_clip

    @property
    def gan(self) -> bool:
        return "d" in self.opts

    def lr(self) -> float:
        return self.scheds["g"].get_last_lr()[0]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": {k: o.state_dict() for k, o in self.opts.items()},
                "schedulers": {k: s.state_dict() for k, s in self.scheds.items()},
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self.opts:
            self.opts[k].load_state_dict(state["optimizers"][k])
            self.scheds[k].load_state_dict(state["schedulers"][k])
        self.scaler.load_state_dict(state["scaler"])

    def backward_step(self, key: str, loss: torch.Tensor, params: list | None = None) -> None:
        opt = self.opts[key]
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip and params:
            self.scaler.unscale_(opt)  # clip the true gradients, not the loss-scaled ones
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.scaler.step(opt)

    def end_iteration(self) -> None:
        self.scaler.update()  # once per iteration, after every optimizer's step (AMP docs)
        for s in self.scheds.values():
            s.step()
