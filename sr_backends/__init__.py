"""Pluggable SR backends. Adding one = one module + one line in BACKENDS below.

Every entry is a `BackendSpec` (sr_backends/base.py) declaring what the backend can do
(trainable, needs a reference / depth / a weights file, exportable). Its description is the
registry line's second part: the one source (`bench ls backends` reads it without importing
torch).
"""
from bench.registry import Registry

BACKENDS: Registry = Registry(
    "backend",
    {
        "bicubic": "sr_backends.bicubic:SPEC",
        "edsr": "sr_backends.edsr:EDSR_PAPER",
        "edsr-baseline": "sr_backends.edsr:EDSR_BASELINE",
        "edsr-large": "sr_backends.edsr:EDSR_LARGE",
        "rcan": "sr_backends.rcan:RCAN_SPEC",
        "atd": "sr_backends.atd:ATD_SPEC",
        "atd-light": "sr_backends.atd:ATD_LIGHT_SPEC",
        "dsrnet": "sr_backends.dsrnet:DSRNET_SPEC",
        "dsrnet-plus": "sr_backends.dsrnet:DSRNET_PLUS_SPEC",
        "dsrnet-s": "sr_backends.dsrnet:DSRNET_S_SPEC",
        "dsrnet-d": "sr_backends.dsrnet:DSRNET_D_SPEC",
        "external": "sr_backends.external:SPEC",
        "onnx:FILE": "sr_backends.onnx_runtime:spec_for",
    },
    {
        "bicubic": "bicubic x4 interpolation (torch, a=-0.75), no learning",
        "edsr": "EDSR 20 res-blocks x 64 ch (the size the sewer paper's Table 2 parameters imply)",
        "edsr-baseline": "EDSR baseline, 16 res-blocks x 64 ch",
        "edsr-large": "EDSR full, 32 res-blocks x 256 ch, residual scaling 0.1",
        "rcan": "RCAN 10 residual groups x 20 RCAB, 64 ch, channel-attention reduction 16",
        "atd": "ATD (embed 210, depths 6x6, heads 6, window 16, category 256, tokens 128)",
        "atd-light": "ATD-light (embed 48, depths 6x4, heads 4, window 16, category 128, tokens 64)",
        "dsrnet": "DSRNet teacher: depth-guided RefSR, L_rec + L_dep + L_per + L_adv",
        "dsrnet-plus": "DSRNet+ teacher trained with L_rec + L_dep only (the paper's best PSNR, "
                       "Table 2)",
        "dsrnet-s": "DSRNet-S student (2 residual blocks per encoder level, halved decoder), "
                    "L_rec + L_dep",
        "dsrnet-d": "DSRNet-D: DSRNet-S distilled from a frozen teacher (L_rec + L_kd + L_ad; "
                    "`bench distill`)",
        "external": "any local checkpoint spandrel recognises (--set sr.weights.external=FILE)",
        "onnx:FILE": "a file from `bench export`, run by ONNX Runtime (e.g. onnx:model.onnx)",
    },
)
