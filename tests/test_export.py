"""`bench export` -> ONNX, and the `onnx:FILE` backend (ONNX Runtime) against PyTorch."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.registry import Registry, UnknownNameError

SMOKE = ("--profile", "smoke")


# ------------------------------------------------------------------ registry (no torch needed)
def test_parametrised_registry_names():
    reg = Registry("backend", {"plain": "m:a", "onnx:FILE": "m:spec_for"}, {"onnx:FILE": "d"})
    assert reg.names() == ["plain"] and reg.patterns() == ["onnx:FILE"]
    assert "onnx:/x/m.onnx" in reg and reg.check("onnx:/x/m.onnx") == "onnx:/x/m.onnx"
    assert reg.argument("onnx:/x/m.onnx") == "/x/m.onnx" and reg.argument("plain") is None
    assert reg.description("onnx:/x/m.onnx") == "d" and reg.description("onnx:FILE") == "d"
    assert "onnx:" not in reg and "onnx" not in reg
    with pytest.raises(UnknownNameError, match=r"Did you mean 'onnx:/x/m.onnx'"):
        reg.check("onx:/x/m.onnx")
    with pytest.raises(UnknownNameError, match="Known: plain, onnx:FILE"):
        reg.check("zzz")


# ------------------------------------------------------------------ helpers
def _frames(n: int = 2):
    from bench.datasets import open_dataset

    d = open_dataset("synthsewer-sr", seed=0, n_train=2, n_val=1, n_test=n)
    return list(d.split("test"))


def _inputs(crop_hr: tuple[int, int], with_ref: bool, with_depth: bool = False):
    """LR (synthesised from a SynthSewer frame cropped to `crop_hr`) [+ the next frame as Ref]
    [+ ground-truth depth of both at LR size]."""
    from bench.degrade import depth_down, downsample, to_tensor

    a, b = _frames()
    h, w = crop_hr
    lr = downsample(to_tensor(a.hr[:h, :w]), 4)
    ref = to_tensor(b.hr[:h, :w]) if with_ref else None
    depth = None
    if with_depth:
        depth = tuple(depth_down(s.depth[:h, :w], 4, s.id)[None] for s in (a, b))
    return lr, ref, depth


def _export(name: str, path, **hp):
    from bench.export import export_backend
    from sr_backends import BACKENDS

    spec = BACKENDS.get(name)
    backend = spec.create(name, allow_random=True, hparams={**spec.tiny, **hp})
    meta = export_backend(backend, path)
    return backend, meta


def _max_abs_on_frames(backend, onnx_file, with_depth=False) -> list[float]:
    """ORT vs PyTorch raw model output on SynthSewer frames at two LR sizes, same file."""
    from sr_backends.onnx_runtime import OnnxBackend

    ort_backend = OnnxBackend(onnx_file)
    diffs = []
    for crop in ((320, 448), (256, 192)):  # LR 80x112 and 64x48
        lr, ref, depth = _inputs(crop, backend.needs_reference, with_depth)
        with torch.inference_mode():
            want = backend.model(lr, ref, *(depth or ())) if ref is not None \
                else backend.model(lr)
            got = ort_backend.run(ort_backend.feeds(lr, ref, depth))
        assert got.shape == want.shape == (1, 3, 4 * lr.shape[-2], 4 * lr.shape[-1])
        diffs.append(float((got - want).abs().max()))
    return diffs


def _pytorch_noise_sensitivity(backend, with_depth=False) -> float:
    """How far PyTorch's own output moves when the LR moves by 1e-6 (max over the sizes)."""
    g = torch.Generator().manual_seed(5)
    worst = 0.0
    for crop in ((320, 448), (256, 192)):
        lr, ref, depth = _inputs(crop, True, with_depth)
        with torch.inference_mode():
            a = backend.model(lr, ref, *(depth or ()))
            b = backend.model(lr + 1e-6 * torch.randn(lr.shape, generator=g), ref, *(depth or ()))
        worst = max(worst, float((a - b).abs().max()))
    return worst


@pytest.fixture(scope="module")
def edsr_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "edsr.onnx"
    backend, meta = _export("edsr", path)
    return backend, path, meta


# ------------------------------------------------------------------ SISR
def test_sisr_export_matches_pytorch_at_two_sizes(edsr_onnx):
    backend, path, meta = edsr_onnx
    assert max(_max_abs_on_frames(backend, path)) <= 1e-4
    assert json.loads(meta["inputs"]) == ["lr"] and meta["scale"] == "4"
    assert json.loads(meta["needs_reference"]) is False


def test_onnx_backend_metadata_fingerprint_and_errors(edsr_onnx, tmp_path):
    from sr_backends import BACKENDS
    from sr_backends.onnx_runtime import OnnxBackend

    backend, path, meta = edsr_onnx
    spec = BACKENDS.get(f"onnx:{path}")
    assert spec.kind == "file" and spec.needs_reference is False and spec.scale == 4
    assert meta["weights_sha256"] == "random-init-seed0" and meta["backend"] == "edsr"
    assert json.loads(meta["hparams"]) == backend.hparams
    a, b = OnnxBackend(path), OnnxBackend(path)
    assert a.fingerprint() == b.fingerprint()
    import onnx

    copy = tmp_path / "copy.onnx"  # the same bytes elsewhere: the same backend
    copy.write_bytes(path.read_bytes())
    assert OnnxBackend(copy).fingerprint() == a.fingerprint()
    proto = onnx.load(str(path))
    proto.metadata_props.add(key="note", value="changed")
    onnx.save(proto, str(copy))  # other bytes: another fingerprint
    assert OnnxBackend(copy).fingerprint() != a.fingerprint()
    with pytest.raises(BenchError, match="not a multiple of 16"):
        a.upscale(torch.rand(1, 3, 40, 48))
    out = a.upscale(torch.rand(1, 3, 32, 48))
    assert out.shape == (1, 3, 128, 192) and 0 <= out.min() and out.max() <= 1


def test_perf_states_model_sizes_and_flags_different_hparams(edsr_onnx, bench_cli):
    from bench.metrics.counting import count_params
    from bench.perf_inputs import describe_model

    backend, path, _ = edsr_onnx  # exported at the tiny hyper-parameters
    d = describe_model(f"onnx:{path}")
    assert d["from"] == "edsr" and d["hparams"] == backend.hparams
    assert d["params"] == count_params(backend.model) > 0
    full = describe_model("edsr")
    assert full["params"] > 10 * d["params"] and full["hparams"]["n_feats"] == 64
    code, out, err = bench_cli("perf", "backend", "--backend", "edsr", "--backend",
                               f"onnx:{path}", "--lr-size", "16x16", "--repeats", "1",
                               "--no-memory")
    assert code == 0, err
    assert "params M" in out and f"{d['params'] / 1e6:.3f}" in out
    assert "note: the edsr rows differ in hyper-parameters" in " ".join(out.split())


def test_bad_onnx_files_exit_2_with_one_line(bench_cli, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 this is not a protobuf")
    for arg, expected in ((tmp_path / "missing.onnx", "ONNX file not found"),
                          (junk, "not an ONNX model")):
        code, out, err = bench_cli("eval-sr", "--backend", f"onnx:{arg}", *SMOKE,
                                   "--out", str(tmp_path))
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    code, _, err = bench_cli("eval-sr", "--backend", f"onx:{junk}", *SMOKE)
    assert code == 2 and "Did you mean" in err and "onnx:" in err


def test_export_refuses_other_formats_and_kinds(bench_cli, tmp_path):
    code, _, err = bench_cli("export", "--backend", "edsr", "--format", "tflite", "--out",
                             str(tmp_path / "m.x"), *SMOKE)
    assert code == 2 and "--format 'tflite'" in err and len(err.strip().splitlines()) == 1
    code, _, err = bench_cli("export", "--backend", "bicubic", "--out", str(tmp_path / "m.onnx"),
                             *SMOKE)
    assert code == 2 and "only learned backends" in err
    code, _, err = bench_cli("export", "--backend", "edsr", "--out",
                             str(tmp_path / "nofolder" / "m.onnx"), *SMOKE)
    assert code == 2 and "existing folder" in err


# ------------------------------------------------------------------ DSRNet family
@pytest.mark.slow
@pytest.mark.parametrize("depth_source", ["predicted", "gt"])
def test_dsrnet_export_matches_pytorch_without_antialiased_resize(tmp_path, depth_source):
    import onnx

    path = tmp_path / "dsrnet-s.onnx"
    backend, meta = _export("dsrnet-s", path, depth_source=depth_source)
    gt = depth_source == "gt"
    assert json.loads(meta["inputs"]) == ["lr", "ref", "ref_down"] + \
        (["depth_lr", "depth_ref_down"] if gt else [])
    assert json.loads(meta["needs_depth"]) is gt and meta["ref_down"].startswith("sr_backends.")
    # random inputs at two LR sizes (measured at export): the graph computes what torch does
    assert max(json.loads(meta["verified_max_abs"]).values()) <= 1e-4
    # SynthSewer frames: a random-init tiny DSRNet's matching has near-ties on smooth real
    # images, so its argmax flips under float noise: PyTorch itself moves ~1e-4 when the LR
    # moves by 1e-6. ORT may differ by no more than that conditioning allows; the flat 1e-4
    # given the same matches is test_dsrnet_onnx_equals_pytorch_on_frames_given_the_same_matches.
    noise = _pytorch_noise_sensitivity(backend, with_depth=gt)
    assert max(_max_abs_on_frames(backend, path, with_depth=gt)) <= max(1e-4, 3 * noise)
    graph = onnx.load(str(path)).graph
    resizes = [n for n in graph.node if n.op_type == "Resize"]
    assert resizes  # the bicubic(LR) skip and score upsampling stay inside, without antialias
    assert not [n for n in resizes for a in n.attribute if a.name == "antialias" and a.i]
    assert not [n for n in graph.node if n.op_type == "Loop"]  # no per-row loop (speed)


class _WithMatches(torch.nn.Module):
    """DSRNet's output plus its patch matches as graph outputs (a test-only export)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.downsample_reference = model, model.downsample_reference

    def forward(self, lr, ref, depth_lr=None, depth_ref_down=None, ref_down=None):
        sr, aux = self.model.forward_with_aux(lr, ref, depth_lr, depth_ref_down, ref_down)
        return sr, aux["match"].index, aux["match"].score


@pytest.mark.slow
def test_dsrnet_onnx_equals_pytorch_on_frames_given_the_same_matches(monkeypatch):
    """The 1e-4 bound on SynthSewer frames, two LR sizes, one file, made testable for a model
    whose matching has near-ties: ORT's graph also returns its patch matches; PyTorch run with
    those matches must give ORT's output within a flat 1e-4, and wherever ORT matched
    differently from PyTorch, the two candidates' cosines (PyTorch's features) must tie to
    2e-6: the only difference is which of two equal-scoring patches an argmax picked."""
    from bench.export import graph_inputs, ref_down_function, to_onnx_bytes
    from sr_backends import BACKENDS
    from sr_backends.dsrnet import model as dsrnet_model
    from sr_backends.dsrnet.matching import Match, matched_score
    from sr_backends.onnx_runtime import ort_session

    spec = BACKENDS.get("dsrnet-d")
    model = spec.create("dsrnet-d", allow_random=True, hparams=dict(spec.tiny)).model.eval()
    inputs = graph_inputs(model, True, model.needs_depth)
    assert inputs == ["lr", "ref", "ref_down"]  # depth predicted by the U-Net inside
    session = ort_session(to_onnx_bytes(_WithMatches(model), inputs, 4,
                                        ref_down_function(model)))
    real_match, seen = dsrnet_model.match, {}

    def ort_matches(lr_feat, rd_feat, *args):
        seen["feats"], seen["own"] = (lr_feat, rd_feat), real_match(lr_feat, rd_feat, *args)
        return Match(index=seen["ort_index"], score=seen["ort_score"])

    monkeypatch.setattr(dsrnet_model, "match", ort_matches)
    for crop in ((320, 448), (256, 192)):  # LR 80x112 and 64x48
        lr, ref, _ = _inputs(crop, True)
        feeds = {"lr": lr, "ref": ref, "ref_down": model.downsample_reference(ref)}
        sr, seen["ort_index"], seen["ort_score"] = (
            torch.from_numpy(a) for a in session.run(None, {k: feeds[k].numpy() for k in inputs}))
        with torch.inference_mode():
            want = model(lr, ref)
        assert float((sr - want).abs().max()) <= 1e-4
        own, flipped = seen["own"], seen["own"].index != seen["ort_index"]
        assert float(flipped.float().mean()) < 0.01  # a broken graph would match elsewhere
        lr_feat, rd_feat = seen["feats"]
        with torch.inference_mode():
            gap = matched_score(lr_feat, rd_feat, own.index) - \
                matched_score(lr_feat, rd_feat, seen["ort_index"])
        assert float(gap.abs().max()) <= 2e-6  # measured: 3e-7 (26 of 8960 px flipped)


def test_model_output_unchanged_by_explicit_ref_down():
    from sr_backends import BACKENDS

    spec = BACKENDS.get("dsrnet-s")
    torch.manual_seed(0)
    model = spec.build(**{**spec.hparams, **spec.tiny}).eval()
    lr, ref = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 128, 192)
    with torch.inference_mode():
        a = model(lr, ref)
        b = model(lr, ref, ref_down=model.downsample_reference(ref))
    assert torch.equal(a, b)


# ------------------------------------------------------------------ CLI end to end
@pytest.mark.slow
def test_cli_export_then_eval_sr_gives_the_same_psnr(bench_json, tmp_path):
    onnx_file = tmp_path / "edsr.onnx"
    meta = bench_json("export", "--backend", "edsr", "--out", str(onnx_file), *SMOKE)
    assert onnx_file.is_file() and meta["backend"] == "edsr"
    assert len(meta["weights_sha256"]) == 64  # the smoke-trained weights, not a random init
    result = bench_json("eval-sr", "--backend", "edsr", "--backend", f"onnx:{onnx_file}",
                        *SMOKE, "--out", str(tmp_path / "runs"))
    torch_row, ort_row = result["backends"]["edsr"], result["backends"][f"onnx:{onnx_file}"]
    assert torch_row["n_images"] == ort_row["n_images"] > 0
    for metric in ("psnr_y", "psnr_rgb", "ssim_y"):
        assert abs(torch_row[metric] - ort_row[metric]) < 0.01, (metric, torch_row, ort_row)
    assert np.isfinite(ort_row["psnr_y"])
