"""DSRNet losses besides the plain L1s: perceptual (VGG19, local weights only) and the
relativistic GAN pair (paper eqs. 12-13).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision vgg19().features[:35] ends at conv5_4 before its ReLU: MASA-SR's single
# perceptual layer ("conv5_4", weight 1, L1 criterion), which DSRNet's training code inherits.
_CONV5_4_END = 35


class PerceptualLoss:
    """L_per = L1(VGG19 conv5_4(SR), VGG19 conv5_4(HR)), ImageNet-normalised inputs.

    The weights come from a local torchvision `vgg19` state_dict; nothing is ever downloaded.
    A plain object rather than an nn.Module on purpose: the frozen 20M-parameter VGG must not
    enter the model's state_dict, parameter count or optimizer.
    """

    def __init__(self, weights_path: str | Path | None) -> None:
        if not weights_path:
            raise BenchError("L_per needs local VGG19 weights: set hparams.vgg19_weights=PATH "
                             "(a torchvision vgg19 state_dict .pth); nothing is downloaded")
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise BenchError(f"{path}: VGG19 weights file not found (hparams.vgg19_weights)")
        from torchvision.models import vgg19  # local import: torchvision is heavy to import

        net = vgg19(weights=None)
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, ValueError, OSError) as e:  # wrong keys/shapes, not a checkpoint
            raise BenchError(f"{path}: not a torchvision vgg19 state_dict "
                             f"({str(e).splitlines()[0]})") from e
        self.net = net.features[:_CONV5_4_END].eval().requires_grad_(False)
        self.mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)

    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.mean.device != sr.device:  # follow the model across .to(device)
            self.net.to(sr.device)
            self.mean, self.std = self.mean.to(sr.device), self.std.to(sr.device)
        with torch.no_grad():
            target = self._features(hr)
        return F.l1_loss(self._features(sr), target)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def relativistic_g_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Eq. 12: -E[log(1 - D(HR, SR))] - E[log D(SR, HR)], D(a, b) = sigmoid(C(a) - E[C(b)])."""
    return _bce(real - fake.mean(), 0.0) + _bce(fake - real.mean(), 1.0)


def relativistic_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Eq. 13: -E[log D(HR, SR)] - E[log(1 - D(SR, HR))]."""
    return _bce(real - fake.mean(), 1.0) + _bce(fake - real.mean(), 0.0)


def frozen_call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """module(x) with its parameters detached: gradients reach x but not the module.

    The generator step uses this for D, so D's gradients never mix into the generator's
    backward (D is trained only by `discriminator_step`).
    """
    params = {k: v.detach() for k, v in module.named_parameters()}
    return torch.func.functional_call(module, params, (x,))
