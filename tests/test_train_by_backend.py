"""`sr.train_by_backend.<name>`: one backend's own training budget, checked at the boundary.

It exists because architectures need different budgets in one run (DSRNet's patch must be a
multiple of 16, the quick patch is 24): the override reaches that backend's weights key and its
trainer, and nothing else's."""
from __future__ import annotations

import pytest

from bench.backends import resolve_backends
from bench.config import load_config
from bench.training.harness import train_config


def _cfg(**by_backend):
    cfg = load_config("smoke")
    cfg.sr.train_by_backend = by_backend
    return cfg


def test_override_reaches_only_its_backend_key_and_trainer():
    base = {b.name: b for b in resolve_backends(["edsr", "rcan"], _cfg())}
    over = {b.name: b for b in resolve_backends(["edsr", "rcan"],
                                                _cfg(rcan={"patch_size": 16, "iterations": 3}))}
    assert over["edsr"].weights_key == base["edsr"].weights_key
    assert over["rcan"].weights_key != base["rcan"].weights_key
    assert over["rcan"].train.patch_size == 16 and over["rcan"].train.iterations == 3
    assert over["edsr"].train.patch_size == base["edsr"].train.patch_size
    tc = train_config(over["rcan"], _cfg(rcan={"patch_size": 16, "iterations": 3}), "cpu")
    assert tc.patch_size == 16 and tc.iterations == 3


def test_the_same_budget_set_per_backend_or_globally_gives_the_same_key():
    cfg = _cfg()
    cfg.sr.train.patch_size = 16
    (glob,) = resolve_backends(["edsr"], cfg)
    (per,) = resolve_backends(["edsr"], _cfg(edsr={"patch_size": 16}))
    assert glob.weights_key == per.weights_key


@pytest.mark.parametrize("overrides, expected", [
    ("sr.train_by_backend.edsr={patch_size: 2}", "sr.train_by_backend.edsr.patch_size: Input should be greater than or equal to 4"),
    ("sr.train_by_backend.edsr={n_train: 3}", "sr.train_by_backend.edsr.n_train: shared by every backend"),
    ("sr.train_by_backend.edsr={patchsize: 16}", "not an sr.train setting. Did you mean 'patch_size'"),
    ("sr.train_by_backend.edrs={patch_size: 16}", "unknown backend 'edrs'. Did you mean 'edsr'"),
    ("sr.train_by_backend.bicubic={patch_size: 16}", "backend 'bicubic' is not trained"),
])
def test_bad_overrides_are_one_line_errors(bench_cli, overrides, expected):
    code, out, err = bench_cli("run", "--profile", "smoke", "--dry-run", "-b", "edsr",
                               "--set", overrides)
    assert code == 2, err
    assert expected in err and len(err.strip().splitlines()) == 1, err


def test_quick_profile_resolves_the_papers_columns_with_their_own_budgets():
    cfg = load_config("quick")
    assert {"edsr", "dsrnet", "atd-light"} <= set(cfg.sr.backends)
    names = list(cfg.sr.train_by_backend) + list(cfg.sr.backends)
    resolved = {b.name: b for b in resolve_backends(list(dict.fromkeys(names)), cfg,
                                                    random_weights=True)}
    for name, b in resolved.items():
        if b.spec.arch == "dsrnet":  # its matching blocks: LR patches a multiple of 16
            assert b.train.patch_size % 16 == 0, name
    assert resolved["edsr"].train.patch_size == cfg.sr.train.patch_size


def test_tables_state_what_the_sr_columns_ran():
    from bench.report.delta_text import sr_note

    config = {"sr": {"hparams": {"edsr": {"global_skip": True}, "rcan": {"n_feats": 8}},
                     "train_by_backend": {"dsrnet": {"patch_size": 16}},
                     "train": {"iterations": 600, "batch_size": 4, "patch_size": 24}}}
    note = sr_note(config, ["bicubic", "edsr", "dsrnet", "edsr+td-frozen"])
    assert note.startswith("SR as run: edsr {global_skip: True}; dsrnet {train.patch_size: 16}")
    assert "edsr+td-frozen {global_skip: True}" in note and "rcan" not in note
    assert note.endswith("600 iterations of 4 LR patches of 24 px")
    assert sr_note(config, ["bicubic"]) == ""
