"""`global_skip`: a backend that offers it starts as exactly bicubic, with the same parameters.

Registry-parametrised: every spec whose hyper-parameters accept `global_skip` (EDSR, RCAN,
ATD, ATD-light today) is covered, so a new backend offering it is tested without a new line."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sr_backends import BACKENDS

SKIPPABLE = [n for n in BACKENDS.names()
             if BACKENDS.get(n).trainable and "global_skip" in BACKENDS.get(n).hparam_names()]


def test_the_skippable_backends_are_found():
    assert {"edsr", "atd", "atd-light", "rcan"} <= set(SKIPPABLE)


@pytest.mark.parametrize("name", SKIPPABLE)
def test_untrained_output_is_bicubic_and_parameters_unchanged(name):
    spec = BACKENDS.get(name)
    hp = {**spec.hparams, **spec.tiny}
    torch.manual_seed(0)
    plain = spec.build(**hp)
    torch.manual_seed(0)
    skip = spec.build(**hp, global_skip=True).eval()
    assert list(plain.state_dict()) == list(skip.state_dict())
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in skip.parameters())
    lr = torch.rand(1, 3, 12, 20)
    with torch.no_grad():
        out = skip(lr)
    bicubic = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    assert out.shape == bicubic.shape
    assert torch.allclose(out, bicubic, atol=1e-6)
    # and the residual is learnable: the output conv gets a gradient
    skip.train()
    skip(lr).sum().backward()
    grads = [p.grad.abs().sum().item() for p in skip.parameters() if p.grad is not None]
    assert grads and max(grads) > 0
