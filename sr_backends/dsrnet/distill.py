"""DSRNet-D's training objective: the student learns from HR, from the frozen teacher's output
and from the teacher's encoder features (DESIGN.md section 5; paper section 4.4, Table 11).

    total = λ_rec·L1(S, HR) + λ_dep·L_dep(S) + λ_kd·L1(S, T) + λ_ad·L_ad
    L_ad  = ½ (AFD(S_rgb, T_rgb) + AFD(S_depth, T_depth))    over the 3 encoder levels each

λ_rec, λ_kd, λ_ad default to 1, 0.5, 0.1 (the paper). L_dep is the student's own depth loss with
its own weight (DSRNet-S trains its U-Net the same way, so λ_kd = λ_ad = 0 is exactly DSRNet-S
trained alone). A model without depth modules has no depth features: then L_ad = AFD over RGB.

The teacher is frozen: eval mode, no gradients, its forward under `torch.no_grad()`. It is
held outside the module tree (not a submodule), so it is in neither `state_dict()` (the
checkpoint holds student + AFD parameters) nor `parameters()` (the optimizer never sees it)
nor `train()`; `_apply` still moves it with the objective (`.to(device)`).
`inference_model()` is the student: what the trainer publishes as the weights of `dsrnet-d`.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import ConfigError
from sr_backends.dsrnet.afd import AttentionFeatureDistillation

DEFAULT_WEIGHTS = {"rec": 1.0, "kd": 0.5, "ad": 0.1}
FEATURES = ("rgb_feats", "depth_feats")


def _channels(model: nn.Module, part: str) -> list[int] | None:
    encoder = getattr(model, part, None)
    if encoder is None:
        return None
    return [head.out_channels for head in encoder.heads]


class DistillationObjective(nn.Module):
    def __init__(self, student: nn.Module, teacher: nn.Module, lambda_rec: float = 1.0,
                 lambda_kd: float = 0.5, lambda_ad: float = 0.1, qk_dim: int = 64) -> None:
        super().__init__()
        self.student = student
        teacher.eval().requires_grad_(False)
        self._teacher = (teacher,)  # a tuple hides it from nn.Module's registration
        self.lambdas = {"rec": lambda_rec, "kd": lambda_kd, "ad": lambda_ad}
        self.afd = nn.ModuleDict()
        for feats, part in zip(FEATURES, ("encoder", "depth_encoder")):
            s_ch, t_ch = _channels(student, part), _channels(teacher, part)
            if s_ch is None and t_ch is None:
                continue
            if s_ch is None or t_ch is None:
                who = "student" if s_ch is None else "teacher"
                raise ConfigError(f"distillation: the {who} has no {part.replace('_', ' ')} "
                                  f"(depth_source='none'); student and teacher must both use "
                                  "depth or both not")
            self.afd[feats] = AttentionFeatureDistillation(s_ch, t_ch, qk_dim)

    @property
    def teacher(self) -> nn.Module:
        return self._teacher[0]

    @property
    def needs_depth(self) -> bool:
        return bool(getattr(self.student, "needs_depth", False))

    def _apply(self, fn, recurse: bool = True):
        self.teacher._apply(fn)
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # frozen: dropout/BN of a teacher never switch to training
        return self

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The student's SR (what validation scores)."""
        return self.student(*inputs)

    def inference_model(self) -> nn.Module:
        return self.student

    def generator_parameters(self) -> list[nn.Parameter]:
        return list(self.student.parameters()) + list(self.afd.parameters())

    def training_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        losses, sr, s_aux = self.student.training_losses_with_aux(batch)
        with torch.no_grad():
            t_sr, t_aux = self.teacher.forward_with_aux(
                batch["lr"], batch["ref"], batch.get("depth_lr"), batch.get("depth_ref_down"))
        out = {k: v for k, v in losses.items() if k != "total"}
        student_w = getattr(self.student, "weights", {})
        total = self.lambdas["rec"] * out["rec"] + sum(
            student_w.get(k, 1.0) * v for k, v in out.items() if k != "rec")
        if self.lambdas["kd"]:
            out["kd"] = F.l1_loss(sr, t_sr)
            total = total + self.lambdas["kd"] * out["kd"]
        if self.lambdas["ad"]:
            parts = [afd(s_aux[k], t_aux[k]) for k, afd in self.afd.items()]
            out["ad"] = sum(parts) / len(parts)
            total = total + self.lambdas["ad"] * out["ad"]
        out["total"] = total
        return out


def build_objective(student: nn.Module, teacher: nn.Module, settings: dict[str, Any]
                    ) -> DistillationObjective:
    """The trainer's entry point (BackendSpec.distill.objective)."""
    return DistillationObjective(student, teacher, **settings)
