"""DSRNet (teacher), DSRNet+ and the student DSRNet-S as registry specs.

All three are one class (`model.DSRNet`, or `DSRNetGAN` when the adversarial loss is on) with
different hyper-parameters. See model.py for the data flow, cost.py for parameter/MAC figures
against the paper (the spec's `cost_breakdown` hook); timing lives in bench/perf.py.
"""
from __future__ import annotations

from typing import Any

from sr_backends.base import ArchSpec, DistillSpec
from sr_backends.dsrnet.model import DSRNetGAN, build_dsrnet

_COMMON: dict[str, Any] = {
    "n_feats": 64, "block_size": 16, "depth_source": "predicted", "depth_scale_m": 10.0,
    "unet_width": 64, "lambda_rec": 1.0, "lambda_dep": 1.0,
}
TEACHER: dict[str, Any] = {"n_blocks": 4, "dec_blocks": [2, 2, 2, 12, 8, 4]}
STUDENT: dict[str, Any] = {"n_blocks": 2, "dec_blocks": [1, 1, 1, 6, 4, 2]}
# Same code path at test size (LR 32x48 forward well under a second).
_TINY: dict[str, Any] = {"n_feats": 8, "n_blocks": 1, "dec_blocks": [1, 1, 1, 1, 1, 1],
                         "unet_width": 4}
_TINY_GAN: dict[str, Any] = {**_TINY, "disc_feats": 8}

DSRNET_SPEC = ArchSpec(
    arch="dsrnet",
    build=build_dsrnet,
    model_class=DSRNetGAN,
    cost_breakdown="sr_backends.dsrnet.cost:dsrnet_cost_report",
    # MASA-SR's weights for the GAN stage (per 1, adv 5e-3); L_per runs only when
    # vgg19_weights names a local file, otherwise it is skipped with a warning.
    hparams={**_COMMON, **TEACHER, "lambda_per": 1.0, "lambda_adv": 5e-3,
             "vgg19_weights": None, "disc_feats": 64},
    needs_reference=True,
    depth_input=("depth_source", "gt"),
    tiny=_TINY_GAN,
    # 1: the D step judges the generator step's own SR (before: a second forward after G's
    # update), as MASA-SR does; same hyper-parameters, other weights.
    revision=1,
)
DSRNET_PLUS_SPEC = ArchSpec(
    arch="dsrnet",
    build=build_dsrnet,
    model_class=DSRNetGAN,
    cost_breakdown="sr_backends.dsrnet.cost:dsrnet_cost_report",
    hparams={**_COMMON, **TEACHER, "lambda_per": 0.0, "lambda_adv": 0.0},
    needs_reference=True,
    depth_input=("depth_source", "gt"),
    tiny=_TINY,
)
DSRNET_S_SPEC = ArchSpec(
    arch="dsrnet",
    build=build_dsrnet,
    model_class=DSRNetGAN,
    cost_breakdown="sr_backends.dsrnet.cost:dsrnet_cost_report",
    hparams={**_COMMON, **STUDENT, "lambda_per": 0.0, "lambda_adv": 0.0},
    needs_reference=True,
    depth_input=("depth_source", "gt"),
    tiny=_TINY,
)

# DSRNet-D: the student's architecture, trained by distillation (distill.py) from a frozen
# teacher. The default teacher is DSRNet+ (L_rec + L_dep: best PSNR in the paper's Table 2;
# which DSRNet the paper distilled from is not stated, so this default is ours; the full
# `dsrnet` adds a GAN loss and, with a local VGG19 file, L_per — `sr.distill.teacher`).
DSRNET_D_SPEC = ArchSpec(
    arch="dsrnet",
    build=build_dsrnet,
    model_class=DSRNetGAN,
    cost_breakdown="sr_backends.dsrnet.cost:dsrnet_cost_report",
    hparams=dict(DSRNET_S_SPEC.hparams),
    needs_reference=True,
    depth_input=("depth_source", "gt"),
    tiny=_TINY,
    distill=DistillSpec(student="dsrnet-s", teacher="dsrnet-plus",
                        objective="sr_backends.dsrnet.distill:build_objective"),
)

__all__ = ["DSRNET_SPEC", "DSRNET_PLUS_SPEC", "DSRNET_S_SPEC", "DSRNET_D_SPEC", "build_dsrnet"]
