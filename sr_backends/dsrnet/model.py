"""DSRNet (Pan et al. 2025): depth-guided reference-based x4 SR on a MASA-SR backbone.

One class covers the teacher (4 residual blocks per encoder level, decoder 2-2-2-12-8-4) and
the student DSRNet-S (2 blocks, decoder 1-1-1-6-4-2), and the depth switch of the paper's
Table 10: `depth_source` = "predicted" (a U-Net estimates depth of LR and Ref↓ and is trained
with L_dep) | "gt" (ground-truth depth passed in; no U-Net is built) | "none" (no depth
modules at all: MASA-SR with block-16 matching).

Data flow: LR, Ref↓ (= bicubic antialiased x4 downsample of Ref, computed here) and Ref go
through one shared encoder; LR and Ref↓ are fused with their depth features; LR level-1
features are matched against Ref↓ level-1 features (matching.py); the Ref features at stride
1/2/4 are transferred at x4/x2/x1 (transfer.py); the decoder adds bicubic(LR).

Only what the output uses is computed: Ref↓ goes through encoder level 1 only (matching is
the only consumer), and the depth decoder the authors build but never call does not exist.

Sizes: LR height and width are reflect-padded up to multiples of the block size (16) and the
output is cropped back to 4h x 4w, so any LR of at least 16x16 works; the Ref is
reflect-padded to a multiple of 4 and must be at least 4x16 = 64 px per side.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError, ConfigError
from sr_backends.dsrnet.blocks import init_weights
from sr_backends.dsrnet.decoder import Decoder
from sr_backends.dsrnet.discriminator import Discriminator
from sr_backends.dsrnet.encoder import DepthFusion, Encoder
from sr_backends.dsrnet.losses import (PerceptualLoss, frozen_call, relativistic_d_loss,
                                       relativistic_g_loss)
from sr_backends.dsrnet.matching import match
from sr_backends.dsrnet.transfer import make_bags, transfer
from sr_backends.dsrnet.unet import DepthUNet

DEPTH_SOURCES = ("predicted", "gt", "none")
SCALE = 4


def _pad_to(x: torch.Tensor, size: tuple[int, int], what: str) -> torch.Tensor:
    """Reflect-pad the bottom/right of x up to `size` (H, W)."""
    ph, pw = size[0] - x.shape[-2], size[1] - x.shape[-1]
    if ph < 0 or pw < 0 or ph >= x.shape[-2] or pw >= x.shape[-1]:
        raise BenchError(f"DSRNet: {what} is {tuple(x.shape[-2:])}, expected about {size}")
    return F.pad(x, (0, pw, 0, ph), mode="reflect")


def downsample_reference(ref: torch.Tensor) -> torch.Tensor:
    """Ref↓: the Ref reflect-padded to a multiple of 4, then bicubic antialiased x4 downsample.
    forward computes it when not given; an exported graph takes it as an input instead
    (antialiased resize does not export faithfully, see bench/export.py)."""
    ref_p = _pad_to(ref, tuple(-(-n // SCALE) * SCALE for n in ref.shape[-2:]), "Ref")
    return F.interpolate(ref_p, size=(ref_p.shape[-2] // SCALE, ref_p.shape[-1] // SCALE),
                         mode="bicubic", align_corners=False, antialias=True)


class DSRNet(nn.Module):
    """forward(lr, ref, depth_lr=None, depth_ref_down=None) -> SR (B, 3, 4h, 4w).

    lr (B,3,h,w) and ref (B,3,4h',4w') in [0,1]; depth maps (B,1,h,w) and (B,1,h',w') in
    metres, needed only with depth_source="gt". Depth is divided by `depth_scale_m` inside
    the model (10 m: SynthSewer depth runs to 40 m, so the network sees values of about 0-4).
    """

    def __init__(self, n_feats: int = 64, n_blocks: int = 4,
                 dec_blocks: Sequence[int] = (2, 2, 2, 12, 8, 4), block_size: int = 16,
                 depth_source: str = "predicted", depth_scale_m: float = 10.0,
                 unet_width: int = 64, coarse_pool: int = 4, window_slack: int = 4,
                 lambda_rec: float = 1.0, lambda_dep: float = 1.0, lambda_per: float = 0.0,
                 lambda_adv: float = 0.0, vgg19_weights: str | None = None,
                 tail_init_scale: float = 1.0, scale: int = SCALE) -> None:
        super().__init__()
        if depth_source not in DEPTH_SOURCES:
            raise ConfigError(f"dsrnet: depth_source={depth_source!r}; expected one of "
                              f"{', '.join(DEPTH_SOURCES)}")
        if scale != SCALE:
            raise ConfigError(f"dsrnet: scale={scale}; DSRNet is a x{SCALE} model")
        if block_size % coarse_pool:
            raise ConfigError(f"dsrnet: block_size={block_size} must be a multiple of "
                              f"coarse_pool={coarse_pool}")
        self.depth_source, self.depth_scale_m = depth_source, float(depth_scale_m)
        self.block, self.pool, self.slack = block_size, coarse_pool, window_slack
        self.weights = {"rec": lambda_rec, "dep": lambda_dep, "per": lambda_per,
                        "adv": lambda_adv}
        self.encoder = Encoder(3, n_feats, n_blocks)
        self.unet = DepthUNet(3, unet_width) if depth_source == "predicted" else None
        use_depth = depth_source != "none"
        self.depth_encoder = Encoder(1, n_feats, n_blocks) if use_depth else None
        self.fusion = DepthFusion(n_feats) if use_depth else None
        self.decoder = Decoder(n_feats, dec_blocks)
        for part in (self.encoder, self.depth_encoder, self.fusion, self.decoder):
            if part is not None:
                init_weights(part)
        self.decoder.sam.zero_init()
        # `tail_init_scale` (ours; 1 = the He init above, MASA-SR's) scales the last conv, i.e.
        # the size of the residual over bicubic an untrained decoder adds. At 1 it starts at
        # std ~0.015 on SynthSewer-SR patches, above the HR-bicubic residual it should learn
        # (~0.011). On one fixed batch at lr 1e-3, 175 Adam steps then left the residual at std
        # 2e-4 and correlation 0.06 with HR-bicubic (L1 = bicubic's: the decoder silenced),
        # while 0.01 reached correlation 0.71 and an L1 33% below bicubic. On the quick
        # schedule DSRNet learned only with both 0.01 and 32-px patches (docs/results.md);
        # the default stays the published init.
        with torch.no_grad():
            self.decoder.tail.weight.mul_(float(tail_init_scale))
        # L_per is optional: it needs a local VGG19 file. Without one it is skipped, loudly.
        # The file is read on the first training step, not here: inference builds the same
        # hyper-parameters and must not need (or load) the 550 MB VGG.
        self.vgg19_weights = vgg19_weights if lambda_per > 0 else None
        self.perceptual: PerceptualLoss | None = None
        self.notes: list[str] = []
        if lambda_per > 0 and not vgg19_weights:
            self.notes.append("L_per skipped: no local VGG19 weights configured "
                              "(set hparams.vgg19_weights=PATH to enable it)")
            warnings.warn(f"dsrnet: {self.notes[-1]}", stacklevel=2)
        self.last_sr: torch.Tensor | None = None

    @property
    def needs_depth(self) -> bool:
        """True when forward needs ground-truth depth_lr / depth_ref_down (the harness and the
        trainer read this to pass the data's depth maps)."""
        return self.depth_source == "gt"

    # ---------------------------------------------------------------- forward
    # The exporter reads this: the Ref↓ input is computed outside an exported graph by it.
    downsample_reference = staticmethod(downsample_reference)

    def forward(self, lr: torch.Tensor, ref: torch.Tensor, depth_lr: torch.Tensor | None = None,
                depth_ref_down: torch.Tensor | None = None,
                ref_down: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_aux(lr, ref, depth_lr, depth_ref_down, ref_down)[0]

    def forward_with_aux(self, lr: torch.Tensor, ref: torch.Tensor,
                         depth_lr: torch.Tensor | None = None,
                         depth_ref_down: torch.Tensor | None = None,
                         ref_down: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, dict[str, Any]]:
        """SR plus auxiliaries: "rgb_feats"/"depth_feats" (LR encoder features per level),
        "match" (the matching's index and score maps) and, with depth_source="predicted",
        "depth_lr"/"depth_ref_down" (U-Net output in depth_scale_m units, on the padded
        grids). `ref_down` = `downsample_reference(ref)`
        when given (an exported graph gets it from outside); computed here otherwise."""
        h, w = lr.shape[-2:]
        if min(h, w) < self.block or min(ref.shape[-2:]) < SCALE * self.block:
            raise BenchError(f"DSRNet needs LR >= {self.block}x{self.block} and Ref >= "
                             f"{SCALE * self.block}x{SCALE * self.block}; got LR {h}x{w}, "
                             f"Ref {ref.shape[-2]}x{ref.shape[-1]}")
        b = self.block
        lr_p = _pad_to(lr, (-(-h // b) * b, -(-w // b) * b), "LR")
        ref_p = _pad_to(ref, tuple(-(-n // SCALE) * SCALE for n in ref.shape[-2:]), "Ref")
        if ref_down is None:
            ref_down = downsample_reference(ref)
        rd_size = (ref_p.shape[-2] // SCALE, ref_p.shape[-1] // SCALE)
        # Channels-last activations: oneDNN's NHWC convolutions are ~2x faster here than NCHW
        # ones, and the matching/transfer read pixels as rows of C channels (free views).
        lr_p, ref_p, ref_down = (t.contiguous(memory_format=torch.channels_last)
                                 for t in (lr_p, ref_p, ref_down))
        lr_feats = self.encoder(lr_p)
        rd_feats = self.encoder(ref_down, levels=1)
        # References only (no extra compute): the LR encoder features per level, for feature
        # distillation of the student.
        aux: dict[str, Any] = {"rgb_feats": lr_feats}
        if self.depth_encoder is not None and self.fusion is not None:
            d_lr, d_rd = self._depths(lr_p, ref_down, depth_lr, depth_ref_down, aux)
            aux["depth_feats"] = self.depth_encoder(d_lr)
            lr_feats = self.fusion(lr_feats, aux["depth_feats"])
            rd_feats = self.fusion(rd_feats, self.depth_encoder(d_rd, levels=1))
        m = match(lr_feats[0], rd_feats[0], self.block, self.pool, self.slack)
        aux["match"] = m  # the patch matches (tests compare them across runtimes)
        bags = make_bags(m.index, rd_size)
        # Transfer the Ref levels right after encoding Ref and drop each map once used, so the
        # x4-size Ref features are freed before the decoder runs (LR 448x320 fits in 12 GB).
        ref_feats = self.encoder(ref_p)
        t4 = transfer(ref_feats.pop(0), bags, m.score, 4)
        t2 = transfer(ref_feats.pop(0), bags, m.score, 2)
        t1 = transfer(ref_feats.pop(0), bags, m.score, 1)
        out = self.decoder(lr_feats, t1, t2, t4)
        out = out + F.interpolate(lr_p, scale_factor=SCALE, mode="bicubic", align_corners=False)
        # Crop the padding; a plain NCHW tensor for callers (3 channels: a cheap copy).
        return out[..., :SCALE * h, :SCALE * w].contiguous(), aux

    def _depths(self, lr_p: torch.Tensor, ref_down: torch.Tensor, depth_lr: torch.Tensor | None,
                depth_ref_down: torch.Tensor | None,
                aux: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised depth of LR and Ref↓: from the U-Net, or the given ground truth."""
        if self.unet is not None:  # "predicted": inference needs no depth files
            aux["depth_lr"], aux["depth_ref_down"] = self.unet(lr_p), self.unet(ref_down)
            return aux["depth_lr"], aux["depth_ref_down"]
        if depth_lr is None or depth_ref_down is None:
            raise BenchError("DSRNet with depth_source='gt' needs depth_lr and depth_ref_down "
                             "(ground-truth depth, metres); use 'predicted' to estimate it")
        return (_pad_to(depth_lr / self.depth_scale_m, tuple(lr_p.shape[-2:]), "depth_lr"),
                _pad_to(depth_ref_down / self.depth_scale_m, tuple(ref_down.shape[-2:]),
                        "depth_ref_down"))

    # --------------------------------------------------------------- training
    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters the generator optimizer owns (everything but a discriminator)."""
        return [p for n, p in self.named_parameters() if not n.startswith("discriminator.")]

    def training_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Weighted losses of one batch; "total" is what to backpropagate.

        rec: L1(SR, HR). dep (depth_source="predicted" and lambda_dep > 0): L1 of the U-Net
        depth of LR and of Ref↓ against batch "depth_lr" / "depth_ref_down" (metres, divided
        by depth_scale_m), eq. 9. per: VGG19 conv5_4 L1 when `vgg19_weights` is set (loaded
        on the first call; BenchError if the file is missing). The SR (detached) is kept in
        `self.last_sr` for a following `discriminator_step`.
        """
        return self.training_losses_with_aux(batch)[0]

    def training_losses_with_aux(self, batch: dict[str, torch.Tensor]
                                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, Any]]:
        """`training_losses` plus the SR and the auxiliaries of `forward_with_aux` (encoder
        features: what a distillation objective compares with a teacher's)."""
        sr, aux = self.forward_with_aux(batch["lr"], batch["ref"], batch.get("depth_lr"),
                                        batch.get("depth_ref_down"))
        hr = batch["hr"]
        losses = {"rec": F.l1_loss(sr, hr)}
        if "depth_lr" in aux and self.weights["dep"] > 0:
            if batch.get("depth_lr") is None or batch.get("depth_ref_down") is None:
                raise BenchError("DSRNet L_dep needs ground-truth depth in the training data "
                                 "(depth_lr, depth_ref_down); set lambda_dep=0 or "
                                 "depth_source='none' for data without depth")
            losses["dep"] = sum(F.l1_loss(aux[k][..., :gt.shape[-2], :gt.shape[-1]],
                                          gt / self.depth_scale_m)
                                for k, gt in (("depth_lr", batch["depth_lr"]),
                                              ("depth_ref_down", batch["depth_ref_down"])))
        if self.vgg19_weights:
            if self.perceptual is None:
                self.perceptual = PerceptualLoss(self.vgg19_weights)
            losses["per"] = self.perceptual(sr, hr)
        losses.update(self._adversarial(sr, hr))
        losses["total"] = sum(self.weights[k] * v for k, v in losses.items())
        self.last_sr = sr.detach()
        return losses, sr, aux

    def _adversarial(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}


class DSRNetGAN(DSRNet):
    """DSRNet with the relativistic discriminator (lambda_adv > 0).

    Per iteration a trainer does:
        losses = model.training_losses(batch)            # includes "adv" = eq. 12
        losses["total"].backward(); g_opt.step()          # g_opt over generator_parameters()
        d_loss = model.discriminator_step(batch, model.last_sr)   # eq. 13
        d_loss.backward(); d_opt.step()                   # d_opt over discriminator params
    The generator step evaluates D with detached parameters, so no D gradient leaks into it;
    `disc_optim` holds MASA-SR's D optimizer settings (Adam lr 1e-4, betas (0, 0.9)).
    """

    disc_optim = {"lr": 1e-4, "betas": (0.0, 0.9)}

    def __init__(self, disc_feats: int = 64, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.discriminator = Discriminator(nf=disc_feats)

    def training_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The losses plus "sr" (detached): the trainer's D step judges this very output, as
        MASA-SR's does, instead of running the generator a second time (a third of a step)."""
        return {**super().training_losses(batch), "sr": self.last_sr}

    def _adversarial(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            real = frozen_call(self.discriminator, hr)
        return {"adv": relativistic_g_loss(real, frozen_call(self.discriminator, sr))}

    def discriminator_step(self, batch: dict[str, torch.Tensor], sr: torch.Tensor) -> torch.Tensor:
        """D's loss (eq. 13) on HR vs the detached SR; the caller backprops and steps D."""
        return relativistic_d_loss(self.discriminator(batch["hr"]),
                                   self.discriminator(sr.detach()))


def build_dsrnet(**hparams: Any) -> DSRNet:
    """DSRNetGAN when the adversarial loss is on, else DSRNet (no discriminator built;
    `disc_feats` is then irrelevant and dropped)."""
    disc_feats = hparams.pop("disc_feats", 64)
    if hparams.get("lambda_adv", 0.0) > 0:
        return DSRNetGAN(disc_feats=disc_feats, **hparams)
    return DSRNet(**hparams)
