"""Task-driven SR inside the SR trainer (SR4IR's protocol, Kim et al. CVPR 2024;
REFERENCES.md section 7): the loss, the cross-quality patch mix, and the objective that wraps
an SR network with a frozen task model.

Loss of one SR step (`TaskDrivenObjective.training_losses`):

    loss = L_sr + λ_tdp · TDP                                  (TDP only once it >= warmup)
    L_sr = L1(SR, HR), or the backend's own `training_losses` total (DSRNet: L_rec + L_dep)
    TDP  = (1/T) Σ_t mean_{b,c,h,w} | φ_t(SR) − φ_t(HR) |

φ_1..φ_T are the frozen task model's feature taps (`TaskModel.features`: SR4IR's layers or
the nearest equivalent), each weighted 1/T (SR4IR's detection uses two FPN maps at 0.5 each:
the same weighting). φ_t(HR) is computed under no_grad; φ_t(SR) carries gradients to SR only.
The warm-up counts optimizer steps (`iteration`, a buffer: saved in last.pt, so a resumed
training switches TDP on at the same step as an uninterrupted one).

The task model is frozen: eval mode, requires_grad False, held outside the module tree (a
tuple hides it from nn.Module's registration, as distillation does with its teacher), so it
is in neither `state_dict()` nor `parameters()` (the optimizer never sees it) nor `train()`;
`_apply` still moves it with the objective. `inference_model()` is the SR network: what the
trainer publishes.

CQMix (`cqmix`): an 8x8 Bernoulli(0.5) mask per image, upscaled (nearest) to the image,
pastes SR and HR patches into one image, mix = m·SR + (1 − m)·HR, within a batch item only.
SR4IR's task step trains on CE(SR) + CE(HR) + CE(CQMix) (0.34 each); that step is the `joint`
protocol's (bench/training/joint.py: `JointObjective`, a TaskDrivenObjective + a task step).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import ConfigError

CQMIX_GRID = 8
_DELEGATED = ("discriminator", "discriminator_step", "generator_parameters", "needs_depth")


def tdp_loss(feats_sr: Sequence[torch.Tensor], feats_hr: Sequence[torch.Tensor]) -> torch.Tensor:
    """TDP = mean over taps of the mean absolute difference (see the module docstring)."""
    if len(feats_sr) != len(feats_hr) or not feats_sr:
        raise ValueError(f"TDP needs the same taps on SR and HR ({len(feats_sr)} vs "
                         f"{len(feats_hr)})")
    parts = [F.l1_loss(s.float(), h.float()) for s, h in zip(feats_sr, feats_hr)]
    return sum(parts) / len(parts)  # type: ignore[return-value]


def cqmix_mask(batch: int, height: int, width: int, grid: int = CQMIX_GRID,
               generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, 1, H, W) of 0/1: a grid x grid Bernoulli(0.5) draw per image, upscaled nearest."""
    cells = torch.randint(0, 2, (batch, 1, grid, grid), generator=generator).float()
    return F.interpolate(cells, size=(height, width), mode="nearest").to(device)


def cqmix(sr: torch.Tensor, hr: torch.Tensor, grid: int = CQMIX_GRID,
          generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(mix, mask): mix = mask·SR + (1 − mask)·HR, item by item (never across the batch)."""
    if sr.shape != hr.shape:
        raise ValueError(f"CQMix needs SR and HR of one shape, got {tuple(sr.shape)} and "
                         f"{tuple(hr.shape)}")
    b, _, h, w = sr.shape
    m = cqmix_mask(b, h, w, grid, generator, sr.device).to(sr.dtype)
    return m * sr + (1 - m) * hr, m


def _sr_and_losses(model: nn.Module, batch: dict[str, torch.Tensor], needs_reference: bool,
                   sr_forward: Callable) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The SR (with gradients) and the backend's own losses ("total" among them)."""
    with_aux = getattr(model, "training_losses_with_aux", None)
    if callable(with_aux):  # e.g. DSRNet: L_rec + L_dep, the SR with its graph
        losses, sr, _ = with_aux(batch)
        return sr, dict(losses)
    own = getattr(model, "training_losses", None)
    if callable(own):
        losses = dict(own(batch))
        if "sr" not in losses:
            raise ConfigError(f"task-driven SR: {type(model).__name__}.training_losses returns "
                              "no 'sr' (the output TDP compares)")
        return losses.pop("sr"), losses
    sr = sr_forward(model, batch, needs_reference)
    l1 = F.l1_loss(sr.float(), batch["hr"])
    return sr, {"total": l1, "l1": l1.detach()}


def _forward(model: nn.Module, batch: dict[str, torch.Tensor], needs_reference: bool
             ) -> torch.Tensor:
    """SR of a SISR model (the trainer passes its own `sr_forward` for the others)."""
    if needs_reference:
        raise ValueError("a reference-based model needs the trainer's sr_forward")
    return model(batch["lr"])


class TaskDrivenObjective(nn.Module):
    """SR network + frozen task model: L_sr + λ_tdp·TDP (see the module docstring)."""

    def __init__(self, model: nn.Module, task_model: Any, lambda_tdp: float, warmup: int,
                 needs_reference: bool, sr_forward: Callable | None = None):
        super().__init__()
        self.model = model
        for net in task_model.networks().values():
            net.eval().requires_grad_(False)
        self._task = (task_model,)  # a tuple hides it from nn.Module's registration
        self.lambda_tdp, self.warmup, self.needs_reference = lambda_tdp, warmup, needs_reference
        self._sr_forward = sr_forward or _forward  # the trainer's (reference / depth inputs)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    @property
    def task_model(self) -> Any:
        return self._task[0]

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in _DELEGATED:  # GAN steps and depth flags are the SR network's
                return getattr(self._modules["model"], name)
            raise

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]
        for net in self.task_model.networks().values():
            net._apply(fn)
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True):  # type: ignore[no-untyped-def]
        super().train(mode)
        for net in self.task_model.networks().values():
            net.eval()  # frozen: BatchNorm/dropout of the task model never train
        return self

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The SR network's output (what validation scores)."""
        return self.model(*inputs)

    def inference_model(self) -> nn.Module:
        return self.model

    def tdp(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        task = self.task_model
        with torch.no_grad():
            target = [f.detach() for f in task.features(hr)]
        return tdp_loss(task.features(sr), target)

    def training_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        sr, losses = _sr_and_losses(self.model, batch, self.needs_reference, self._sr_forward)
        total = losses.pop("total")
        on = int(self.iteration) >= self.warmup and self.lambda_tdp > 0
        if on:
            tdp = self.tdp(sr, batch["hr"])
            total = total + self.lambda_tdp * tdp
            losses["tdp"] = tdp.detach()
        if self.training:
            self.iteration += 1
        return {**losses, "total": total, "sr": sr}


def load_task_model(task: str, model: str, settings: dict[str, Any], directory: str,
                    device: torch.device | str) -> Any:
    """The trained task model in `directory` (a complete cache entry), on `device`."""
    from pathlib import Path

    from bench.resolved_task import resolve_task

    d = Path(directory)
    if not ((d / "model.json").is_file() and (d / "model.safetensors").is_file()):
        raise ConfigError(f"task-driven SR: the {task}/{model} task model is not trained "
                          f"({d} is incomplete); train it first (bench run trains it)")
    tm = resolve_task(task, (model,)).make_model(model, **settings)
    tm.load(d, device=str(device))
    return tm
