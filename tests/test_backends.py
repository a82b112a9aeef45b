"""SR backends, parametrized over the backend registry: a new ArchSpec is covered by adding it
to `sr_backends.BACKENDS` (with a `tiny` hparams override and `reference` figures)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import toy_reference_net
import torch

from bench.errors import BenchError
from bench.metrics.counting import count_params
from sr_backends import BACKENDS
from sr_backends.base import ArchSpec
from sr_backends.learned import LearnedBackend, default_weights_path, load_backend
from sr_backends.weights import load_weights, save_weights

LR = 16  # tiny LR side; Ref is 4x


def resolve(name: str):
    """The registry entry (every registered module must import: no skipping)."""
    return BACKENDS.get(name)


def spec_of(name: str) -> ArchSpec:
    entry = resolve(name)
    assert entry.kind == "learned", name
    return entry


def tiny_backend(name: str, spec: ArchSpec, weights: Path | None = None, seed: int = 0):
    return LearnedBackend(name, spec, weights, allow_random=weights is None,
                          hparams=spec.tiny, seed=seed)


def inputs(spec: ArchSpec, lr_hw: tuple[int, int] = (LR, LR), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(1, 3, *lr_hw, generator=g)
    ref = torch.rand(1, 3, lr_hw[0] * 4, lr_hw[1] * 4, generator=g) if spec.needs_reference else None
    return lr, ref


NAMES = [n for n in BACKENDS.names() if resolve(n).kind == "learned"]


@pytest.mark.parametrize("name", NAMES)
def test_tiny_shape_range_determinism(name):
    spec = spec_of(name)
    backend = tiny_backend(name, spec)
    lr, ref = inputs(spec)
    lr_before = lr.clone()
    out = backend.upscale(lr, ref)
    assert out.shape == (1, 3, LR * spec.scale, LR * spec.scale)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(lr, lr_before), "upscale modified its input in place"
    assert out.std() > 0, "constant output"
    assert torch.equal(out, backend.upscale(lr, ref)), "eval-mode output not deterministic"


@pytest.mark.parametrize("name", NAMES)
def test_non_square_odd_size(name):
    spec = spec_of(name)
    if spec.needs_reference:
        pytest.skip("reference models document their own size rules (block size 16)")
    out = tiny_backend(name, spec).upscale(torch.rand(2, 3, 12, 20))
    assert out.shape == (2, 3, 48, 80)


@pytest.mark.parametrize("name", NAMES)
def test_weights_round_trip(name, tmp_path):
    spec = spec_of(name)
    a = tiny_backend(name, spec, seed=0)
    stem = default_weights_path(name, tmp_path)
    save_weights(a.model, stem, {"arch": spec.arch, "hparams": a.hparams,
                                 "train": {"epochs": 1}, "data_fingerprint": "abc"})
    assert stem.with_name(name + ".safetensors").is_file()
    meta = json.loads(stem.with_name(name + ".json").read_text())
    assert meta["arch"] == spec.arch and meta["train"] == {"epochs": 1}
    b = tiny_backend(name, spec, weights=stem)
    lr, ref = inputs(spec, seed=1)
    assert torch.equal(a.upscale(lr, ref), b.upscale(lr, ref))
    assert b.fingerprint() != a.fingerprint()  # random init vs file: different identities
    assert b.fingerprint() == tiny_backend(name, spec, weights=stem).fingerprint()


@pytest.mark.parametrize("name", NAMES)
def test_full_size_param_count(name):
    spec = spec_of(name)
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = spec.build(**spec.hparams)
    n = count_params(model)
    target = spec.reference.get("params")
    if target is None:
        assert n > 0
    else:
        assert abs(n - target) / target < 0.01, f"{name}: {n} params vs published {target:.0f}"


def test_backend_param_counts_exact():
    """The exact counts of the original implementations (mean-shift convs included)."""
    from sr_backends.atd import ATD_LIGHT_SPEC, ATD_SPEC
    from sr_backends.edsr import EDSR_PAPER
    from sr_backends.rcan import RCAN_SPEC

    with torch.device("meta"):
        got = [count_params(s.build(**s.hparams))
               for s in (EDSR_PAPER, RCAN_SPEC, ATD_SPEC, ATD_LIGHT_SPEC)]
    assert got == [1_813_019, 15_592_379, 20_260_929, 768_792]


# --------------------------------------------------------------------------- errors and options
def test_no_weights_is_an_error_unless_random_allowed():
    spec = spec_of("edsr")
    with pytest.raises(BenchError, match="bench train-sr --backend edsr"):
        LearnedBackend("edsr", spec, None)


def test_reference_spec_requires_ref():
    Fusion = toy_reference_net()

    spec = ArchSpec("fusion", Fusion, needs_reference=True)
    backend = LearnedBackend("fusion", spec, allow_random=True)
    with pytest.raises(BenchError, match="needs a Ref"):
        backend.upscale(torch.rand(1, 3, 8, 8))
    assert backend.upscale(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32)).shape[-1] == 32


def test_weights_errors(tmp_path):
    spec = spec_of("edsr")
    with pytest.raises(BenchError, match="not found"):
        load_weights(tmp_path / "missing")
    model = spec.build(**{**spec.hparams, **spec.tiny})
    hp = {**spec.hparams, **spec.tiny}
    save_weights(model, tmp_path / "e", {"arch": "edsr", "hparams": hp})
    with pytest.raises(BenchError, match="architecture 'edsr', expected 'rcan'"):
        load_weights(tmp_path / "e", expected_arch="rcan")
    with pytest.raises(BenchError, match="other hyper-parameters"):
        LearnedBackend("edsr", spec, tmp_path / "e")  # full-size spec, tiny weights
    # A tensor file modified after its sidecar was written is refused...
    tfile = tmp_path / "e.safetensors"
    tfile.write_bytes(tfile.read_bytes()[:-8])
    with pytest.raises(BenchError, match="sha256"):
        load_weights(tmp_path / "e")
    # ... and garbage without a sidecar is reported as corrupt, naming the file.
    (tmp_path / "e.json").unlink()
    tfile.write_bytes(b"not a safetensors file")
    with pytest.raises(BenchError, match=r"e\.safetensors: corrupt"):
        load_weights(tmp_path / "e")
    # A flipped byte in the tensor data of a file without its sidecar is caught by the
    # checksum the header carries.
    save_weights(model, tmp_path / "f", {"arch": "edsr", "hparams": hp})
    (tmp_path / "f.json").unlink()
    state, _ = load_weights(tmp_path / "f")  # intact: loads
    blob = bytearray((tmp_path / "f.safetensors").read_bytes())
    blob[-3] ^= 0x01  # last tensor's data
    (tmp_path / "f.safetensors").write_bytes(bytes(blob))
    with pytest.raises(BenchError, match=r"f\.safetensors: tensor data do not match"):
        load_weights(tmp_path / "f")


def test_state_dict_mismatch_names_file(tmp_path):
    spec = spec_of("edsr")
    hp = {**spec.hparams, **spec.tiny}
    save_weights(spec.build(**{**hp, "n_resblocks": 1}), tmp_path / "w",
                 {"arch": "edsr"})  # no hparams recorded: caught by the strict load
    with pytest.raises(BenchError, match=r"w\.safetensors: does not fit"):
        LearnedBackend("edsr", spec, tmp_path / "w", hparams=spec.tiny)


def test_tiled_inference_matches_whole_image():
    spec = spec_of("edsr")
    whole = tiny_backend("edsr", spec)
    tiled = LearnedBackend("edsr", spec, allow_random=True, hparams=spec.tiny, tile=8,
                           tile_overlap=8)
    lr = torch.rand(1, 3, 20, 28)
    torch.testing.assert_close(tiled.upscale(lr), whole.upscale(lr), atol=1e-5, rtol=0)
    assert tiled.fingerprint() != whole.fingerprint()


def test_load_backend_uses_weights_dir(tmp_path):
    with pytest.raises(BenchError, match="train-sr"):
        load_backend("edsr", weights_dir=tmp_path)
    assert load_backend("edsr", allow_random=True).fingerprint()


# --------------------------------------------------------------------------- external (spandrel)
def test_external_loads_our_rcan_weights(tmp_path):
    from sr_backends.external import ExternalBackend

    spec = spec_of("rcan")
    ours = tiny_backend("rcan", spec)
    save_weights(ours.model, tmp_path / "rcan", {"arch": "rcan", "hparams": ours.hparams})
    ext = ExternalBackend(tmp_path / "rcan.safetensors")
    assert ext.architecture == "RCAN" and ext.scale == 4
    lr = torch.rand(1, 3, 12, 12)
    before = lr.clone()
    torch.testing.assert_close(ext.upscale(lr), ours.upscale(lr), atol=1e-6, rtol=0)
    assert torch.equal(lr, before)  # spandrel's RCAN scales its input in place: we clone
    assert len(ext.fingerprint()) == 64


def test_external_loads_atd_light(tmp_path):
    """ATD-light weights saved by us are detected by spandrel with our hyper-parameters
    (one layer of two blocks keeps it fast; everything else is full size)."""
    from sr_backends.external import ExternalBackend

    spec = spec_of("atd-light")
    ours = LearnedBackend("atd-light", spec, allow_random=True,
                          hparams={"depths": [2], "num_heads": [4]})
    save_weights(ours.model, tmp_path / "atdl", {"arch": "atd", "hparams": ours.hparams})
    ext = ExternalBackend(tmp_path / "atdl.safetensors")
    assert ext.architecture == "ATD"
    lr = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(ext.upscale(lr), ours.upscale(lr), atol=1e-5, rtol=0)


def test_external_errors(tmp_path):
    from sr_backends.external import ExternalBackend

    with pytest.raises(BenchError, match="not found"):
        ExternalBackend(tmp_path / "nope.pth")
    spec = spec_of("edsr")  # spandrel has no EDSR detector
    save_weights(spec.build(**{**spec.hparams, **spec.tiny}), tmp_path / "e", {"arch": "edsr"})
    with pytest.raises(BenchError, match="does not recognise"):
        ExternalBackend(tmp_path / "e.safetensors")
    rcan = spec_of("rcan")
    save_weights(rcan.build(**{**rcan.hparams, **rcan.tiny, "scale": 2}), tmp_path / "r2",
                 {"arch": "rcan"})
    with pytest.raises(BenchError, match="x2, the benchmark needs x4"):
        ExternalBackend(tmp_path / "r2.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(BenchError, match="junk.pth"):
        ExternalBackend(tmp_path / "junk.pth")


@pytest.mark.parametrize("name", BACKENDS.names())
def test_every_entry_is_one_kind_of_spec(name):
    """Every registry entry is a BackendSpec whose `create` gives a working SRBackend."""
    from sr_backends.base import BackendSpec, SRBackend

    spec = resolve(name)
    assert isinstance(spec, BackendSpec) and spec.kind in ("learned", "fixed", "file")
    if spec.kind == "file":
        with pytest.raises(BenchError, match=f"sr.weights.{name}"):
            spec.create(name)
        return
    backend = spec.create(name, hparams=spec.tiny if spec.kind == "learned" else None,
                          allow_random=True)
    assert isinstance(backend, SRBackend) and backend.fingerprint()
    if spec.kind == "learned":
        assert set(spec.tiny) <= spec.hparam_names()
