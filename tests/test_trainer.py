"""SR trainer: config errors, patch data, loss decrease, exact resume, val selection, GAN, DDP.

Tiny models defined here (wrapped in ArchSpecs) keep every test CPU-fast and independent of
the real backends; images are small synthetic textures.
"""
from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.datasets.base import Sample
from bench.degrade import DegradationConfig
from bench.errors import ConfigError
from sr_backends.base import ArchSpec
from bench.training.config import SRTrainConfig, load_train_config
from bench.training.data import PatchBatches, prepare_pairs
from bench.training.trainer import train_sr, validate

torch.set_num_threads(1)  # 2 shared cores; tiny models gain nothing from more


class TinySR(nn.Module):
    """Bilinear upsampling + a learned residual (zero-initialised, so it starts as bilinear)."""

    def __init__(self, ch: int = 8, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(nn.Conv2d(3, ch, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(ch, 3 * scale * scale, 3, padding=1))
        nn.init.zeros_(self.body[2].weight)
        nn.init.zeros_(self.body[2].bias)
        self.up = nn.PixelShuffle(scale)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(lr, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return base + self.up(self.body(lr))


class TinyRef(TinySR):
    """Reference-based contract: forward(lr, ref); checks the batch it trains on."""

    def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        assert ref.shape[-2:] == (lr.shape[-2] * 4, lr.shape[-1] * 4)
        return super().forward(lr) + 0.0 * ref.mean()

    def training_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        b, _, h, w = batch["lr"].shape
        assert batch["ref"].shape == batch["hr"].shape == (b, 3, 4 * h, 4 * w)
        assert batch["depth_lr"].shape == batch["depth_ref_down"].shape == (b, 1, h, w)
        assert h % 16 == 0 and w % 16 == 0
        sr = self(batch["lr"], batch["ref"])
        rec = F.l1_loss(sr, batch["hr"])
        dep = batch["depth_lr"].mean() * 0  # a model would regress depth here
        return {"total": rec + dep, "rec": rec.detach(), "sr": sr}


class TinyGAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = TinySR(4)
        self.discriminator = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1),
                                           nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1),
                                           nn.Flatten(), nn.Linear(4, 1))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.generator(lr)

    def generator_parameters(self):
        return self.generator.parameters()

    def training_losses(self, batch):
        sr = self(batch["lr"])
        rec = F.l1_loss(sr, batch["hr"])
        adv = F.softplus(-self.discriminator(sr)).mean()
        return {"total": rec + 1e-3 * adv, "rec": rec.detach(), "adv": adv.detach(), "sr": sr}

    def discriminator_step(self, batch, sr):
        real, fake = self.discriminator(batch["hr"]), self.discriminator(sr)
        return F.softplus(-real).mean() + F.softplus(fake).mean()


TINY = ArchSpec(arch="tinysr", build=TinySR, hparams={"ch": 8})
TINY_REF = ArchSpec(arch="tinyref", build=TinyRef, hparams={"ch": 4}, needs_reference=True)
TINY_GAN = ArchSpec(arch="tinygan", build=TinyGAN)


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth noise + oriented stripes: enough structure for SR to learn something."""
    small = rng.random((size // 8, size // 8, 3))
    base = np.kron(small, np.ones((8, 8, 1)))
    yy, xx = np.mgrid[:size, :size]
    angle, freq = rng.random() * np.pi, 0.3 + rng.random() * 0.5
    stripes = 0.5 + 0.5 * np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy))
    img = 0.6 * base + 0.4 * stripes[..., None]
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def make_samples(n: int, size: int = 64, seed: int = 0, prefix: str = "s",
                 with_ref: bool = False) -> list[Sample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        hr = texture(rng, size)
        depth = rng.random((size, size)).astype(np.float32) * 5
        refs = (texture(rng, size),) if with_ref else ()
        rdep = (rng.random((size, size)).astype(np.float32),) if with_ref else ()
        out.append(Sample(id=f"{prefix}{i}", hr=hr, depth=depth, refs=refs, ref_depths=rdep))
    return out


def cfg(**kw) -> SRTrainConfig:
    base = dict(backend="tiny", iterations=8, batch_size=4, patch_size=8, val_every=4,
                log_every=2, lr=1e-3, tensorboard=False, device="cpu")
    return SRTrainConfig(**{**base, **kw})


# ---------------------------------------------------------------------------- config


def test_unknown_key_names_key_and_suggestion():
    with pytest.raises(ConfigError, match=r"unknown key 'batchsize'\. Did you mean 'batch_size'"):
        load_train_config({"backend": "edsr", "iterations": 10, "batchsize": 4})


def test_nested_unknown_key_and_bad_value():
    with pytest.raises(ConfigError, match=r"'degradation.scal'.*'scale'"):
        load_train_config({"backend": "edsr", "iterations": 10, "degradation": {"scal": 4}})
    with pytest.raises(ConfigError, match=r"bad value for 'iterations'"):
        load_train_config({"backend": "edsr", "iterations": 0})
    with pytest.raises(ConfigError, match=r"missing required key 'backend'"):
        load_train_config({"iterations": 3})
    assert load_train_config({"backend": "edsr", "iterations": 3}).lr == 2e-4


def test_reference_patch_must_align_to_16(tmp_path):
    with pytest.raises(ConfigError, match="multiple of 16"):
        train_sr(TINY_REF, make_samples(2, with_ref=True), make_samples(1, with_ref=True),
                 cfg(patch_size=8), tmp_path)


def test_existing_checkpoint_needs_resume(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"x")
    with pytest.raises(ConfigError, match="--resume"):
        train_sr(TINY, make_samples(2), make_samples(1), cfg(), tmp_path)


# ---------------------------------------------------------------------------- data


def test_patches_deterministic_aligned_and_per_rank():
    rng = np.random.default_rng(3)
    samples = []
    for i in range(3):  # HR = nearest x4 of LR, so every transformed HR patch = repeat(LR patch)
        lr = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
        dlr = rng.random((16, 20)).astype(np.float32)
        samples.append(Sample(id=f"a{i}", hr=lr.repeat(4, 0).repeat(4, 1), lr=lr,
                              depth=dlr.repeat(4, 0).repeat(4, 1)))
    pairs = prepare_pairs(samples, degradation=DegradationConfig(), seed=0, scale=4,
                          needs_reference=False)
    b0 = PatchBatches(pairs, batch_size=6, patch_size=8, seed=1, rank=0)
    b1 = PatchBatches(pairs, batch_size=6, patch_size=8, seed=1, rank=1)
    x, y = b0[5], b0[5]
    assert all(torch.equal(x[k], y[k]) for k in x)
    assert not torch.equal(x["lr"], b1[5]["lr"]) and not torch.equal(x["lr"], b0[6]["lr"])
    assert x["lr"].shape == (6, 3, 8, 8) and x["hr"].shape == (6, 3, 32, 32)
    rep = x["lr"].repeat_interleave(4, -2).repeat_interleave(4, -1)
    assert torch.equal(rep, x["hr"])
    # depth_lr is the area (mean) downsampling of the HR depth, cropped like the LR
    assert x["depth_lr"].shape == (6, 1, 8, 8)
    seen = {tuple(p.flatten()[:4].tolist()) for p in x["depth_lr"]}
    assert len(seen) > 1


def test_loader_workers_give_the_same_batches():
    from bench.training.data import make_loader
    pairs = prepare_pairs(make_samples(3), degradation=DegradationConfig(), seed=0, scale=4,
                          needs_reference=False)
    batches = PatchBatches(pairs, batch_size=2, patch_size=8, seed=0)
    got = list(make_loader(batches, 3, 6, num_workers=1, pin_memory=False))
    assert len(got) == 3
    assert all(torch.equal(g["hr"], batches[i]["hr"]) for g, i in zip(got, range(3, 6)))


# ---------------------------------------------------------------------------- training


def test_loss_decreases(tmp_path):
    res = train_sr(TINY, make_samples(6), make_samples(2, prefix="v"),
                   cfg(iterations=50, val_every=50, log_every=10, lr=3e-3), tmp_path,
                   progress=False)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == "iteration,loss,lr,val_psnr,elapsed"
    losses = [float(r.split(",")[1]) for r in rows[1:]]
    assert len(losses) == 5 and losses[-1] < 0.9 * losses[0], losses
    assert res.iterations_done == 50 and res.best_iteration == 50
    assert res.best_weights.exists() and res.best_meta.exists()


def test_resume_is_bitwise_exact(tmp_path):
    train, val = make_samples(4), make_samples(2, prefix="v")
    full = train_sr(TINY, train, val, cfg(), tmp_path / "full", progress=False)
    part = train_sr(TINY, train, val, cfg(), tmp_path / "part", progress=False, stop_after=4)
    assert part.stopped_early and part.iterations_done == 4
    done = train_sr(TINY, train, val, cfg(), tmp_path / "part", resume=True, progress=False)
    assert done.iterations_done == 8 and not done.stopped_early
    a, b = full.model.state_dict(), done.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda p: [r.rsplit(",", 1)[0] for r in p.read_text().splitlines()]  # noqa: E731
    assert strip(tmp_path / "full/log.csv") == strip(tmp_path / "part/log.csv")
    with pytest.raises(ConfigError, match="'lr'"):
        train_sr(TINY, train, val, cfg(lr=5e-4), tmp_path / "part", resume=True,
                 progress=False)


def test_best_is_selected_on_val(tmp_path):
    # Train pairs whose HR is the colour-inverse of the scene: training makes the model
    # worse on the (correct) val pairs, so the best val checkpoint is the first one.
    good = make_samples(4, prefix="t")
    from bench.degrade import degrade
    train = [Sample(id=s.id, hr=255 - s.hr, lr=degrade(s.hr, DegradationConfig(), 0))
             for s in good]
    val = make_samples(2, seed=9, prefix="v")
    res = train_sr(TINY, train, val, cfg(iterations=20, val_every=5, lr=1e-2), tmp_path,
                   progress=False)
    rows = [r.split(",") for r in (tmp_path / "log.csv").read_text().splitlines()[1:]]
    vals = {int(r[0]): float(r[3]) for r in rows if r[3]}
    assert sorted(vals) == [5, 10, 15, 20]
    assert res.best_iteration == 5 and vals[20] < vals[5]
    meta = json.loads(res.best_meta.read_text())
    assert meta["split"] == "val" and meta["selected_on"] == "val"
    assert meta["iteration"] == 5 and meta["val_psnr_y"] == pytest.approx(vals[5], abs=1e-4)
    assert meta["arch"] == "tinysr" and meta["hparams"] == {"ch": 8}
    assert meta["train_config"]["iterations"] == 20 and meta["data_fingerprint"]["train"]
    from safetensors.torch import load_file
    model = TinySR(**meta["hparams"])
    model.load_state_dict(load_file(str(res.best_weights)))
    pairs = prepare_pairs(val, degradation=DegradationConfig(), seed=0, scale=4,
                          needs_reference=False)
    assert validate(model, pairs, cfg(), False, torch.device("cpu")) == pytest.approx(
        meta["val_psnr_y"], abs=1e-9)


def test_reference_model_whole_frames_with_depth(tmp_path):
    res = train_sr(TINY_REF, make_samples(3, with_ref=True),
                   make_samples(1, prefix="v", with_ref=True),
                   cfg(patch_size=None, batch_size=2, iterations=2, val_every=2), tmp_path,
                   progress=False)
    meta = json.loads(res.best_meta.read_text())
    assert meta["needs_reference"] and meta["ref_policy"] == "adjacent"
    assert math.isfinite(res.best_val_psnr)


def test_gan_alternates_generator_and_discriminator(tmp_path):
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in TinyGAN().state_dict().items()}
    res = train_sr(TINY_GAN, make_samples(2), make_samples(1, prefix="v"),
                   cfg(iterations=3, val_every=3, seed=0), tmp_path, progress=False)
    after = res.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("disc"))
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("gen"))
    ck = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(ck["optimizers"]) == {"g", "d"}


def test_gan_step_judges_the_generator_output_without_a_second_forward(tmp_path):
    # The D step reuses the "sr" that training_losses returned: one generator forward per
    # iteration (3) plus the one validation frame, not 2 per iteration.
    calls = []
    spec = ArchSpec(arch="tinygan", build=lambda: _counted(TinyGAN(), calls))
    train_sr(spec, make_samples(2), make_samples(1, prefix="v"),
             cfg(iterations=3, val_every=3, seed=0), tmp_path, progress=False)
    assert len(calls) == 3 + 1


def _counted(model: TinyGAN, calls: list) -> TinyGAN:
    model.generator.register_forward_hook(lambda *_: calls.append(1))
    return model


# ---------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    res = train_sr(TINY, make_samples(4), make_samples(1, prefix="v"),
                   cfg(iterations=4, val_every=2, world_size=world), Path(out), progress=False)
    torch.save(res.model.state_dict(), Path(out) / f"rank{rank}.pt")


@pytest.mark.slow
def test_ddp_two_cpu_ranks_agree(tmp_path):
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available in this build")
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2,
                                join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    init = TinySR(8).state_dict()
    assert any(not torch.equal(a[k], init[k]) for k in a)  # it did train
    assert (tmp_path / "last.pt").exists() and (tmp_path / "best.safetensors").exists()
    assert not (tmp_path / "rank1").exists()


def test_world_size_keys_weights_apart_and_must_match_the_ranks(tmp_path):
    """N ranks draw N x batch_size patches per step: other weights, so another key; a
    training whose ranks differ from sr.train.world_size is refused, and a 1-rank key is the
    one weights had before the field existed."""
    from bench.training.config import SRTrainSettings

    one, two = SRTrainSettings(), SRTrainSettings(world_size=2)
    assert "world_size" not in one.identity_json()  # old keys stay valid
    assert one.identity_json() != two.identity_json()
    with pytest.raises(ConfigError, match=r"1 process\(es\) train together but "
                                          r"sr.train.world_size=2; add --set "
                                          r"sr.train.world_size=1"):
        train_sr(TINY, make_samples(2), make_samples(1, prefix="v"), cfg(world_size=2),
                 tmp_path, progress=False)
    assert not (tmp_path / "last.pt").exists()
    # a checkpoint from before the field existed resumes as 1 rank, and only as 1 rank
    from bench.training.checkpoint import check_resume_config

    saved = cfg().model_dump(mode="json")
    del saved["world_size"]
    check_resume_config(saved, cfg())
    with pytest.raises(ConfigError, match="differs from the checkpoint's in 'world_size'"):
        check_resume_config(saved, cfg(world_size=2))


def test_registered_backend_trains_and_loads_as_learned_backend(tmp_path):
    """By name from the registry (tiny variant) -> best.safetensors -> LearnedBackend."""
    from sr_backends.learned import LearnedBackend
    from sr_backends import BACKENDS
    res = train_sr("edsr", make_samples(2), make_samples(1, prefix="v"),
                   cfg(backend="edsr", tiny=True, iterations=2, val_every=2), tmp_path,
                   progress=False)
    meta = json.loads(res.best_meta.read_text())
    assert meta["backend"] == "edsr" and meta["arch"] == "edsr"
    spec = BACKENDS.get("edsr")
    backend = LearnedBackend("edsr", spec, res.best_weights, hparams=spec.tiny)
    lr = torch.rand(1, 3, 8, 8)
    assert backend.upscale(lr).shape == (1, 3, 32, 32)
