"""DSRNet-D: attention feature distillation against a slow reference written from the formula,
the student-first argument order, gradients (student + AFD, never the teacher), and
`bench distill` end to end (smoke) with kill -9 + resume == uninterrupted (sha256)."""
from __future__ import annotations

import hashlib
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sr_backends import BACKENDS
from sr_backends.dsrnet.afd import AttentionFeatureDistillation
from sr_backends.dsrnet.distill import DistillationObjective


def slow_afd(afd: AttentionFeatureDistillation, student, teacher) -> torch.Tensor:
    """L_ad by the formula in afd.py, one sample / teacher / student at a time."""
    d = afd.qk_dim
    total = torch.zeros(())
    batch = student[0].shape[0]
    for b in range(batch):
        for j, t in enumerate(teacher):
            q = afd.queries[j].weight @ t[b].mean((1, 2)) + afd.queries[j].bias
            logits = []
            for i, s in enumerate(student):
                k = torch.relu(afd.keys[i].weight @ s[b].mean((1, 2)) + afd.keys[i].bias)
                kb = (afd.bilinear.weight @ k + afd.bilinear.bias).view(len(teacher), d)[j]
                logits.append((q @ kb + afd.p_t[j] @ afd.p_s[i]) / math.sqrt(d))
            att = torch.softmax(torch.stack(logits), 0)
            H, W = t.shape[-2:]
            v_t = t[b].pow(2).mean(0).flatten()
            v_t = v_t / v_t.norm()
            for i, s in enumerate(student):
                v_s = _adaptive_mean(s[b].pow(2).mean(0), H, W).flatten()
                v_s = v_s / v_s.norm()
                total = total + att[i] * (v_s - v_t).pow(2).mean() / batch
    return total


def _adaptive_mean(e: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Adaptive average pooling by its definition: cell (y, x) averages input rows
    [floor(y·h/H), ceil((y+1)·h/H)) and the same for columns (shrinks or repeats)."""
    h, w = e.shape
    rows = [(y * h // H, -(-(y + 1) * h // H)) for y in range(H)]
    cols = [(x * w // W, -(-(x + 1) * w // W)) for x in range(W)]
    return torch.stack([torch.stack([e[a:b, c:d].mean() for c, d in cols]) for a, b in rows])


def _feats(seed: int, channels, sizes, batch=2, grad=False):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, *hw, generator=g).requires_grad_(grad)
            for c, hw in zip(channels, sizes)]


def test_afd_matches_the_slow_reference_with_gradients():
    torch.manual_seed(0)
    afd = AttentionFeatureDistillation([6, 8, 10], [5, 7, 9], qk_dim=4)
    student = _feats(1, [6, 8, 10], [(8, 12), (4, 6), (2, 6)], grad=True)
    teacher = _feats(2, [5, 7, 9], [(4, 6), (4, 6), (2, 3)])
    fast, slow = afd(student, teacher), slow_afd(afd, student, teacher)
    assert fast.item() == pytest.approx(slow.item(), rel=1e-5)
    g_fast = torch.autograd.grad(fast, [*student, afd.p_t, afd.bilinear.weight])
    g_slow = torch.autograd.grad(slow, [*student, afd.p_t, afd.bilinear.weight])
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    assert all(g.abs().sum() > 0 for g in g_fast)


def test_afd_takes_the_student_first():
    """The authors' DSRNet code swaps teacher and student in one call: pinned here."""
    torch.manual_seed(0)
    afd = AttentionFeatureDistillation([6, 6], [4, 4, 4], qk_dim=4)  # 2 student, 3 teacher
    student = _feats(1, [6, 6], [(4, 4), (2, 2)])
    teacher = _feats(2, [4, 4, 4], [(4, 4), (2, 2), (2, 2)])
    assert afd(student, teacher).item() == pytest.approx(slow_afd(afd, student, teacher).item(),
                                                        rel=1e-5)
    with pytest.raises(ValueError, match="2 student / 3 teacher"):
        afd(teacher, student)
    same = AttentionFeatureDistillation([4], [4], qk_dim=4)
    f = _feats(3, [4], [(4, 4)])
    assert same(f, f).item() == pytest.approx(0.0, abs=1e-12)  # identical maps: nothing to learn


def _tiny(name: str, seed: int = 0, **over):
    spec = BACKENDS.get(name)
    torch.manual_seed(seed)
    return spec.build(**{**spec.hparams, **spec.tiny, **over})


def _batch(seed=0, b=1):
    g = torch.Generator().manual_seed(seed)
    # LR 32x32: the depth U-Net's BatchNorm needs more than one value at its 1/16 level
    return {"lr": torch.rand(b, 3, 32, 32, generator=g),
            "ref": torch.rand(b, 3, 128, 128, generator=g),
            "hr": torch.rand(b, 3, 128, 128, generator=g),
            "depth_lr": 1 + 5 * torch.rand(b, 1, 32, 32, generator=g),
            "depth_ref_down": 1 + 5 * torch.rand(b, 1, 32, 32, generator=g)}


def test_gradients_reach_student_and_afd_never_the_teacher():
    teacher, student = _tiny("dsrnet-plus", n_feats=12), _tiny("dsrnet-d")
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    obj = DistillationObjective(student, teacher)
    obj.train()
    assert not teacher.training and student.training  # the teacher stays in eval mode
    assert not any(k.startswith("teacher") or "_teacher" in k for k in obj.state_dict())
    assert {id(p) for p in obj.parameters()} == \
        {id(p) for p in [*student.parameters(), *obj.afd.parameters()]}
    opt = torch.optim.Adam(obj.generator_parameters(), lr=1e-2)
    losses = obj.training_losses(_batch(b=2))  # batch 2 and (below) batch 1: no BatchNorm
    assert set(losses) == {"rec", "dep", "kd", "ad", "total"}
    assert set(obj.afd) == {"rgb_feats", "depth_feats"}  # L_ad = ½(rgb + depth)
    losses["total"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert sum(p.grad.abs().sum() for p in student.parameters() if p.grad is not None) > 0
    for part in obj.afd.values():
        assert part.p_t.grad.abs().sum() > 0 and part.queries[0].weight.grad.abs().sum() > 0
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    obj.training_losses(_batch(seed=1, b=1))["total"].backward()


def test_the_objective_passes_student_features_first():
    teacher, student = _tiny("dsrnet-plus", seed=1), _tiny("dsrnet-d")
    obj = DistillationObjective(student, teacher, lambda_rec=0, lambda_kd=0, lambda_ad=1)
    batch = _batch()
    got = obj.training_losses(batch)["ad"]
    with torch.no_grad():
        _, s_aux = student.forward_with_aux(batch["lr"], batch["ref"])
        _, t_aux = teacher.forward_with_aux(batch["lr"], batch["ref"])
        want = sum(obj.afd[k](s_aux[k], t_aux[k]) for k in obj.afd) / 2
        swapped = sum(slow_afd(obj.afd[k], t_aux[k], s_aux[k]) for k in obj.afd) / 2
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    assert abs(swapped.item() - want.item()) > 1e-6


def test_rec_only_is_the_student_trained_alone():
    teacher, student = _tiny("dsrnet-plus", seed=1), _tiny("dsrnet-d")
    obj = DistillationObjective(student, teacher, lambda_kd=0, lambda_ad=0)
    batch = _batch()
    alone = student.training_losses(batch)["total"]
    assert obj.training_losses(batch)["total"].item() == pytest.approx(alone.item(), rel=1e-6)


def test_teacher_and_student_must_agree_on_depth():
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="both use depth"):
        DistillationObjective(_tiny("dsrnet-d"), _tiny("dsrnet-plus", depth_source="none"))


# ------------------------------------------------------------------ CLI, end to end
SMOKE = ["--profile", "smoke", "--set", "sr.train.iterations=4", "--set",
         "sr.train.val_every=2", "--json"]


def _bench(args, cache: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=900,
                          env={**os.environ, "SEWER_BENCH_CACHE": str(cache), **env})


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.slow
def test_distill_smoke_end_to_end_and_kill_9_resume(tmp_path):
    import json

    cache = tmp_path / "cache"
    full = _bench(["distill", "--student", "dsrnet-s", *SMOKE], cache)
    assert full.returncode == 0, full.stderr
    result = json.loads(full.stdout)
    assert result["backend"] == "dsrnet-d" and result["teacher"] == "dsrnet-plus"
    assert result["distill"] == {"lambda_rec": 1.0, "lambda_kd": 0.5, "lambda_ad": 0.1,
                                 "qk_dim": 64}
    weights = result["weights"]
    meta = json.loads(Path(weights).with_suffix(".json").read_text())
    assert meta["arch"] == "dsrnet" and meta["hparams"]["n_blocks"] == 1  # the tiny student
    assert meta["train_config"]["teacher"]["backend"] == "dsrnet-plus"
    first = _sha(weights)

    # kill -9 at the distillation's 5th atomic write (log.csv, best of iteration 2 (2),
    # last.pt, then the best weights of iteration 4: killed there), the same command resumes
    # from iteration 2 to the same bytes
    killed = _bench(["distill", "--fresh", *SMOKE], cache, SEWER_BENCH_KILL_AT_WRITE="5")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not Path(weights).exists()
    again = _bench(["distill", *SMOKE], cache)
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr
    assert _sha(json.loads(again.stdout)["weights"]) == first

    # the distilled backend is a backend like any other
    ev = _bench(["eval-sr", "--backend", "dsrnet-d", "--backend", "bicubic", *SMOKE,
                 "--out", str(tmp_path / "out")], cache)
    assert ev.returncode == 0, ev.stderr
    assert math.isfinite(json.loads(ev.stdout)["backends"]["dsrnet-d"]["psnr_y"])


@pytest.mark.slow
def test_distill_under_torchrun_trains_the_teacher_once_then_the_student(tmp_path):
    """Two CPU ranks: the teacher (no weights yet) is trained with DDP, then the student.
    Rank 1 must not go on before rank 0 has published the teacher: it would train the
    teacher again alone and both ranks would hang (seen before the fix)."""
    import json

    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "bench.cli", "distill", "--student", "dsrnet-s", *SMOKE]
    env = {**os.environ, "SEWER_BENCH_CACHE": str(cache), "OMP_NUM_THREADS": "1"}

    def torchrun(*extra: str) -> tuple[int, str, str]:
        """torchrun and its workers in a session of their own, all killed if they hang."""
        proc = subprocess.Popen(cmd + list(extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail("bench distill under torchrun did not finish in 300 s (ranks hung)")
        return proc.returncode, out, err

    # 2 ranks train other weights than 1: without saying so, nothing is trained
    code, _, err = torchrun()
    assert code != 0 and "add --set sr.train.world_size=2" in err
    assert not list((cache / "weights").glob("*.safetensors"))
    code, out, err = torchrun("--set", "sr.train.world_size=2")
    assert code == 0, err[-3000:]
    result = json.loads(out)  # rank 0 reports
    assert result["backend"] == "dsrnet-d" and Path(result["weights"]).is_file()
    weights = cache / "weights"
    assert len(list(weights.glob("dsrnet-plus-*.safetensors"))) == 1  # trained once
    assert len(list(weights.glob("dsrnet-plus-*-train"))) == 1
    meta = json.loads(Path(result["weights"]).with_suffix(".json").read_text())
    assert meta["train_config"]["teacher"]["backend"] == "dsrnet-plus"


@pytest.mark.parametrize("args, message", [
    (["distill", "--student", "edsr"], "no distilled backend uses it as student"),
    (["distill", "--teacher", "dsrnet-pluss"], "Did you mean"),
    (["distill", "--teacher", "bicubic"], "must be a learned backend"),
    (["distill", "--teacher", "edsr"], "both be reference-based"),
    (["train-sr", "--backend", "dsrnet-d"], "bench distill --student dsrnet-s"),
    (["distill", "--set", "sr.distill.lambda_kd=-1"], "sr.distill.lambda_kd"),
])
def test_bad_distill_inputs_exit_2_with_one_line(args, message, bench_cli, tmp_path,
                                                 monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))
    code, out, err = bench_cli(*args, "--profile", "smoke")
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "cache" / "weights").exists()
