"""Bad inputs on the newer surfaces (detection / classification data, ONNX and export,
distillation, executors, reports): each is one line naming the file / key / value, exit 2,
no traceback, and the store, the cache and the --out folder stay exactly as they were: no
file changed, none added or removed (`tree`, which also sees new run folders).

Table-driven like tests/test_bad_inputs.py: (case id, how to build the command, fragment)."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml
from conftest import tree

pytestmark = pytest.mark.slow  # the fixture computes an eval-sr run and a smoke run first

SMOKE = ["--profile", "smoke"]


@dataclass
class Ctx:
    out: Path     # a store holding an eval-sr run and a finished smoke run
    run_dir: Path  # the smoke run
    pipe: Path    # a valid Pipe-format dataset
    sewer: Path   # a valid Sewer-ML dataset
    tmp: Path     # this case's scratch folder


# -- detection data (Pipe format: COCO / YOLO / data.yaml) ------------------------------------
def _det(ctx: Ctx, edit: Callable[[Path], None], *, yolo: bool = False) -> list[str]:
    root = ctx.tmp / "pipe"
    shutil.copytree(ctx.pipe, root)
    if yolo:  # without COCO files the boxes come from labels/<split>/*.txt
        shutil.rmtree(root / "annotations")
    edit(root)
    return ["run", *SMOKE, "--task", "detection", "--dataset", "pipe", "--data-root", str(root),
            "--out", str(ctx.out)]


def _coco_category(value) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / "annotations" / "instances_train.json"
        coco = json.loads(path.read_text())
        coco["annotations"][0]["category_id"] = value
        path.write_text(json.dumps(coco))
    return edit


def _coco_image_twice(root: Path) -> None:
    path = root / "annotations" / "instances_train.json"
    coco = json.loads(path.read_text())
    coco["images"].append({**coco["images"][0], "id": 10_000})
    path.write_text(json.dumps(coco))


def _no_train(root: Path) -> None:
    for folder in ("images", "masks", "labels"):
        shutil.rmtree(root / folder / "train")
    (root / "annotations" / "instances_train.json").unlink()


def _stray_label(root: Path) -> None:
    (root / "labels" / "train" / "no-such-image.txt").write_text("0 0.5 0.5 0.1 0.1\n")


def _data_yaml(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / "data.yaml"
        data = yaml.safe_load(path.read_text())
        result = change(data)
        path.write_text(result if isinstance(result, str) else yaml.safe_dump(data))
    return edit


# -- classification data (Sewer-ML) -----------------------------------------------------------
def _cls(ctx: Ctx, edit: Callable[[Path], None]) -> list[str]:
    root = ctx.tmp / "sewer"
    shutil.copytree(ctx.sewer, root)
    edit(root)
    return ["run", *SMOKE, "--task", "classification", "--dataset", "sewerml", "--data-root",
            str(root), "--out", str(ctx.out)]


def _leak(root: Path) -> None:
    """The first training row, listed again in the validation CSV (its columns, its order)."""
    train, val = (root / f"SewerML_{s}.csv" for s in ("Train", "Val"))
    t_header, t_row = (line.split(",") for line in train.read_text().splitlines()[:2])
    rows = val.read_text().splitlines()
    rows.append(",".join(t_row[t_header.index(c)] for c in rows[0].split(",")))
    val.write_text("\n".join(rows) + "\n")


def _minus_one(root: Path) -> None:
    path = root / "SewerML_Val.csv"
    rows = path.read_text().splitlines()
    header = rows[0].split(",")
    fields = rows[1].split(",")
    fields[header.index("RB")] = "-1"
    rows[1] = ",".join(fields)
    path.write_text("\n".join(rows) + "\n")


# -- ONNX files -------------------------------------------------------------------------------
def onnx_file(path: Path, *, output: str = "ok", **meta_changes) -> Path:
    """A tiny ONNX SR model with the `bench export` metadata: nearest x4 upscaling, or a broken
    output (`nan`, `x2`: the wrong scale, `6ch`: six channels); `meta_changes` edit the
    metadata (a value None removes the key)."""
    import onnx
    from onnx import TensorProto, helper

    from sr_backends.onnx_runtime import FORMAT

    factor = 2.0 if output == "x2" else 4.0
    nodes = [helper.make_node("Resize", ["lr", "", "scales"], ["up"], mode="nearest")]
    inits = [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, factor, factor])]
    if output == "nan":
        inits.append(helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")]))
        nodes.append(helper.make_node("Mul", ["up", "nan"], ["sr"]))
    elif output == "6ch":
        nodes.append(helper.make_node("Concat", ["up", "up"], ["sr"], axis=1))
    else:
        nodes.append(helper.make_node("Identity", ["up"], ["sr"]))
    graph = helper.make_graph(
        nodes, "toy", [helper.make_tensor_value_info("lr", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("sr", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    meta = {"format": FORMAT, "backend": "toy", "arch": "toy", "hparams": "{}", "scale": "4",
            "needs_reference": "false", "needs_depth": "false", "inputs": '["lr"]',
            "ref_down": "", "lr_multiple": "1"}
    meta.update(meta_changes)
    for k, v in meta.items():
        if v is not None:
            model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return path


def _eval_onnx(ctx: Ctx, output: str = "ok", **meta) -> list[str]:
    path = onnx_file(ctx.tmp / "m.onnx", output=output, **meta)
    return ["eval-sr", *SMOKE, "--backend", f"onnx:{path}", "--out", str(ctx.out)]


def _junk_onnx(ctx: Ctx) -> list[str]:
    path = ctx.tmp / "junk.onnx"
    path.write_bytes(b"junk")
    return ["eval-sr", *SMOKE, "--backend", f"onnx:{path}", "--out", str(ctx.out)]


# -- the store ---------------------------------------------------------------------------------
def _header_only(ctx: Ctx) -> list[str]:
    base = ctx.tmp / "baseline.csv"
    base.write_text("task,model,variant,cls,metric,value\n")
    return ["check", "--run", str(ctx.run_dir), "--baseline", str(base)]


def _loop_root(ctx: Ctx) -> list[str]:
    loop = ctx.tmp / "loop"
    loop.symlink_to(loop)
    return ["run", *SMOKE, "--dataset", "pipe", "--data-root", str(loop), "--out", str(ctx.out)]


CASES: list[tuple[str, Callable[[Ctx], list[str]], str]] = [
    # -- detection data ------------------------------------------------------------------------
    ("coco category 2.9", lambda c: _det(c, _coco_category(2.9)), "category_id 2.9 is not an integer"),
    ("coco category text", lambda c: _det(c, _coco_category("2")), "category_id '2' is not an integer"),
    ("coco category bool", lambda c: _det(c, _coco_category(True)), "category_id True is not an integer"),
    ("coco image twice", lambda c: _det(c, _coco_image_twice), "listed twice in 'images'"),
    ("no training split", lambda c: _det(c, _no_train), "the 'train' split has no samples"),
    ("yolo label without image", lambda c: _det(c, _stray_label, yolo=True), "no-such-image.txt: matches no image"),
    ("data.yaml nc", lambda c: _det(c, _data_yaml(lambda d: d.update(nc=5))), "nc: 5 disagrees with the 3 names"),
    ("data.yaml invalid", lambda c: _det(c, _data_yaml(lambda d: "names: [JO, IL\nnc: 3\n")), "invalid YAML at line"),
    ("data.yaml names keys", lambda c: _det(c, _data_yaml(lambda d: d.update(names={0: "JO", 2: "IL"}))), "'names' keys must be 0..1"),
    ("yolo class fraction", lambda c: _det(c, lambda r: sorted((r / "labels" / "train").glob("*.txt"))[0].write_text("1.5 0.5 0.5 0.1 0.1\n"), yolo=True), "expected 'cls cx cy w h'"),
    # -- classification data ---------------------------------------------------------------------
    ("sewerml leakage", lambda c: _cls(c, _leak), "is also in SewerML_Train.csv"),
    ("sewerml label -1", lambda c: _cls(c, _minus_one), "official Sewer-ML evaluation counts only 1 as positive"),
    # -- ONNX models -------------------------------------------------------------------------------
    ("onnx NaN output", lambda c: _eval_onnx(c, "nan"), "non-finite value(s)"),
    ("onnx NaN output in run", lambda c: ["run", *SMOKE, "--model", "fcn", "-b", f"onnx:{onnx_file(c.tmp / 'n.onnx', output='nan')}", "--out", str(c.out)], "non-finite value(s)"),
    ("onnx wrong scale", lambda c: _eval_onnx(c, "x2"), "expected (1, 3,"),
    ("onnx wrong channels", lambda c: _eval_onnx(c, "6ch"), "(x4, 3 channels)"),
    ("onnx lr_multiple 0", lambda c: _eval_onnx(c, lr_multiple="0"), "lr_multiple='0': expected a positive integer"),
    ("onnx without inputs", lambda c: _eval_onnx(c, inputs=None), "metadata field 'inputs' missing"),
    ("onnx inputs not json", lambda c: _eval_onnx(c, inputs="lr"), "metadata field inputs='lr'"),
    ("onnx reference mismatch", lambda c: _eval_onnx(c, needs_reference="true"), "disagrees with inputs"),
    ("onnx ref_down missing", lambda c: _eval_onnx(c, needs_reference="true", inputs='["lr", "ref", "ref_down"]', ref_down="sr_backends.nope:f"), "ref_down function 'sr_backends.nope:f' cannot be loaded"),
    ("onnx ref_down outside", lambda c: _eval_onnx(c, needs_reference="true", inputs='["lr", "ref", "ref_down"]', ref_down="os:system"), "is not a model package's"),
    ("onnx not a model", _junk_onnx, "not an ONNX model"),
    # -- export ------------------------------------------------------------------------------------
    ("export read-only folder", lambda c: ["export", *SMOKE, "-b", "edsr", "--out", "/proc/edges.onnx"], "cannot write in /proc"),
    ("export folder missing", lambda c: ["export", *SMOKE, "-b", "edsr", "--out", str(c.tmp / "no" / "m.onnx")], "expected a file path in an existing folder"),
    ("export atd", lambda c: ["export", *SMOKE, "-b", "atd-light", "--out", str(c.tmp / "m.onnx")], "cannot be exported (checked before training its weights)"),
    # -- distillation --------------------------------------------------------------------------------
    ("distill student is teacher", lambda c: ["distill", *SMOKE, "--student", "dsrnet-s", "--teacher", "dsrnet-s", "--out", str(c.out)], "the teacher is the student 'dsrnet-s' itself"),
    ("distill lambda inf", lambda c: ["distill", *SMOKE, "--set", "sr.distill.lambda_kd=.inf", "--out", str(c.out)], "sr.distill.lambda_kd"),
    ("distill lambda nan", lambda c: ["distill", *SMOKE, "--set", "sr.distill.lambda_ad=nan", "--out", str(c.out)], "finite number"),
    ("train lr inf", lambda c: ["run", *SMOKE, "--set", "sr.train.lr=inf", "--out", str(c.out)], "sr.train.lr"),
    # -- executors -------------------------------------------------------------------------------------
    ("ray address without ray", lambda c: ["run", *SMOKE, "--ray-address", "auto", "--out", str(c.out)], "only used with --executor ray"),
    ("ray address unreachable", lambda c: ["run", *SMOKE, "-x", "ray", "--ray-address", "127.0.0.1:1", "--out", str(c.out)], "cannot reach 127.0.0.1:1"),
    ("ray address malformed", lambda c: ["run", *SMOKE, "-x", "ray", "--ray-address", "nohost", "--out", str(c.out)], "expected auto, HOST:PORT"),
    ("ray gpus absent", lambda c: ["run", *SMOKE, "-x", "ray", "--set", "executor.num_gpus=999", "--out", str(c.out)], "executor.num_gpus=999"),
    # -- sizes and paths ---------------------------------------------------------------------------------
    ("cost huge size", lambda c: ["cost", "--lr-size", "100000x100000"], "at most 4096 pixels per side"),
    ("data-root loop", _loop_root, "cannot resolve the path"),
    # -- reports --------------------------------------------------------------------------------------------
    ("check header-only baseline", _header_only, "would compare 0 metrics"),
    ("leaderboard absent profile", lambda c: ["leaderboard", "--where", "profile=paper", "--out", str(c.out)], "the store holds: --where dataset=synthsewer-sr --where profile=smoke"),
    ("leaderboard absent lr size", lambda c: ["leaderboard", "--where", "lr_size=64x64", "--out", str(c.out)], "--where lr_size=64x64: no cost rows"),
    ("plot absent profile", lambda c: ["plot", "flops-psnr", "--where", "profile=paper", "--out", str(c.out)], "no eval-sr rows"),
    ("leaderboard sort", lambda c: ["leaderboard", "--sort", "psnr", "--out", str(c.out)], "did you mean 'psnr_y'"),
    ("samples n 0", lambda c: ["plot", "samples", "--n", "0", *SMOKE, "--out", str(c.out)], "--n 0: expected 1 or more"),
    ("samples crop negative", lambda c: ["plot", "samples", "--crop", "-5", *SMOKE, "--out", str(c.out)], "--crop -5"),
    ("ray cpus absent", lambda c: ["run", *SMOKE, "-x", "ray", "--set", "executor.num_cpus=999", "--out", str(c.out)], "executor.num_cpus=999: this machine has"),
    # -- messages that say how to fix it ------------------------------------------------------------
    ("seeds without brackets", lambda c: ["run", *SMOKE, "--set", "seeds=0,1,2", "--out", str(c.out)], "write a list in brackets: seeds=[0,1,2]"),
    ("model of another task", lambda c: ["run", *SMOKE, "--model", "yolov5s", "--out", str(c.out)], "'yolov5s' is a detection model: add --task detection"),
    ("model unknown", lambda c: ["run", *SMOKE, "--model", "yolov8", "--out", str(c.out)], "known segmentation models: deeplabv3plus, fcn"),
    ("weights hint keeps profile", lambda c: ["plot", "samples", "-b", "rcan", "-p", "smoke", "--set", "sr.train.seed=3", "--out", str(c.out)], "`bench train-sr --backend rcan -p smoke --set sr.train.seed=3 --out"),
    ("leaderboard other dataset", lambda c: ["leaderboard", "--dataset", "srfolder", "--out", str(c.out)], "the store holds: none"),
]


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """A store with an eval-sr run (bicubic) and a smoke run (FCN), the cache they filled, a
    Pipe dataset and a Sewer-ML dataset."""
    from bench.cli import main

    base = tmp_path_factory.mktemp("bad-edges")
    out, pipe, sewer = base / "out", base / "pipe", base / "sewer"
    for view, dest in (("pipe", pipe), ("cls", sewer)):
        assert main(["synth", "--view", view, "--out", str(dest), "--n-train", "3",
                     "--n-val", "1", "--n-test", "2", "--json"]) == 0
    assert main(["eval-sr", *SMOKE, "--out", str(out), "--json"]) == 0
    assert main(["run", *SMOKE, "--model", "fcn", "--out", str(out), "--json"]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.name.startswith("segmentation-")]
    return out, run_dir, pipe, sewer, Path(os.environ["SEWER_BENCH_CACHE"])


def test_tree_sees_added_changed_and_removed_paths(tmp_path):
    (tmp_path / "a").write_text("1")
    before = tree(tmp_path)
    (tmp_path / "d").mkdir()
    assert tree(tmp_path) != before
    (tmp_path / "d").rmdir()
    (tmp_path / "a").write_text("2")
    assert tree(tmp_path) != before
    (tmp_path / "a").write_text("1")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name, build, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(name, build, fragment, computed,
                                                         bench_cli, tmp_path):
    out, run_dir, pipe, sewer, cache = computed
    before = tree(out, cache)
    args = build(Ctx(out, run_dir, pipe, sewer, tmp_path))
    code, stdout, err = bench_cli(*args)
    assert code == 2, f"{name}: exit {code}\n{stdout}\n{err}"
    assert fragment.lower() in err.lower(), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    after = tree(out, cache)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, f"{name} changed, added or removed: {changed}"


def test_valid_onnx_file_still_scores(computed, bench_json, tmp_path):
    """The checks refuse only what is wrong: the same toy model with a sane output runs."""
    out = tmp_path / "out"
    path = onnx_file(tmp_path / "ok.onnx")
    result = bench_json("eval-sr", *SMOKE, "--backend", f"onnx:{path}", "--out", str(out))
    psnr = result["backends"][f"onnx:{path}"]["psnr_y"]
    assert np.isfinite(psnr) and psnr > 15


def test_table_of_a_missing_run_names_the_path_once(computed, bench_cli, tmp_path):
    missing = tmp_path / "nope"
    code, _, err = bench_cli("table", "--run", str(missing))
    assert code == 2 and err.count(str(missing)) == 2, err  # "--run X" and "looked in X"
    code, _, err = bench_cli("table", "--run", "nope", "--out", str(tmp_path))
    assert code == 2 and f"looked in nope and {tmp_path / 'nope'})" in err, err


def test_check_json_findings_are_fields(computed, bench_cli, tmp_path):
    out, run_dir, *_ = computed
    base = tmp_path / "baseline.csv"
    assert bench_cli("check", "--run", str(run_dir), "--baseline", str(base),
                     "--write-baseline")[0] == 0
    rows = base.read_text().splitlines()
    at = rows[0].split(",").index("value")
    fields = rows[1].split(",")
    fields[at] = str(float(fields[at]) + 0.5)
    rows[1] = ",".join(fields)
    base.write_text("\n".join(rows) + "\n")
    code, stdout, _ = bench_cli("check", "--run", str(run_dir), "--baseline", str(base), "--json")
    assert code == 1
    (finding,) = json.loads(stdout)["findings"]
    assert finding["kind"] == "regression" and finding["metric"] == fields[4]
    assert finding["delta"] == pytest.approx(finding["value"] - finding["baseline"])
    assert finding["delta"] < 0 and finding["message"].startswith("regression: ")
