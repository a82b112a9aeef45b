"""Every bad input is one line naming the file / key / value, exit 2, and changes nothing that
was already computed: a finished smoke run (its --out folder and the cache) is snapshot before
and after every case (`conftest.tree`: no file changed, added or removed). Table-driven: (case id, how to build the command, message fragment)."""
from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from conftest import tree

pytestmark = pytest.mark.slow  # the fixture computes one smoke run first

SMOKE = ["--profile", "smoke"]


@dataclass
class Ctx:
    out: Path        # --out holding a finished run
    run_dir: Path    # that run
    pipe: Path       # a valid Pipe-format dataset (bench synth --view pipe)
    tmp: Path        # this case's scratch folder


def _run(ctx: Ctx, *extra: str) -> list[str]:
    return ["run", *SMOKE, "--model", "fcn", "--out", str(ctx.out), *extra]


def _pipe_copy(ctx: Ctx) -> Path:
    root = ctx.tmp / "pipe"
    shutil.copytree(ctx.pipe, root)
    return root


def _pipe_run(ctx: Ctx, edit: Callable[[Path], None]) -> list[str]:
    root = _pipe_copy(ctx)
    edit(root)
    return _run(ctx, "--dataset", "pipe", "--data-root", str(root))


def _first(root: Path, folder: str) -> Path:
    return sorted((root / folder / "test").glob("*.png"))[0]


def _png16_rgb(path: Path, h: int, w: int) -> None:
    """A 16-bit RGB PNG (PIL cannot write one): 8-bit values stored in 16-bit words."""
    raw = b"".join(b"\x00" + np.full((w, 3), 200, ">u2").tobytes() for _ in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _replace_image(mode: str, fill) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        victim = _first(root, "images")
        w, h = Image.open(victim).size
        Image.new(mode, (w, h), fill).save(victim)
    return edit


def _edit_mask(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        victim = _first(root, "masks")
        Image.fromarray(fn(np.asarray(Image.open(victim)).copy())).save(victim)
    return edit


def _image_16bit(root: Path) -> None:
    victim = _first(root, "images")
    w, h = Image.open(victim).size
    _png16_rgb(victim, h, w)


def _truncate(folder: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        victim = _first(root, folder)
        victim.write_bytes(victim.read_bytes()[:200])
    return edit


def _crop_image_and_mask(root: Path) -> None:
    """A consistent sample (image, mask, COCO entry) 254 pixels wide."""
    for folder in ("images", "masks"):
        victim = _first(root, folder)
        img = Image.open(victim)
        img.crop((0, 0, img.size[0] - 2, img.size[1])).save(victim)
    coco_path = root / "annotations" / "instances_test.json"
    coco = json.loads(coco_path.read_text())
    for entry in coco["images"]:
        if entry["file_name"] == _first(root, "images").name:
            entry["width"] -= 2
    coco["annotations"] = [a for a in coco["annotations"]
                           if a["bbox"][0] + a["bbox"][2] <= 254]
    coco_path.write_text(json.dumps(coco))


def _empty_test(root: Path) -> None:
    for folder in ("images", "masks", "labels"):
        for p in (root / folder / "test").glob("*"):
            p.unlink()
    (root / "annotations" / "instances_test.json").unlink()


def _srfolder(ctx: Ctx, depth: np.ndarray | bytes) -> list[str]:
    root = ctx.tmp / "sr"
    for sub in ("HR", "LR", "depth"):
        (root / "test" / sub).mkdir(parents=True)
    Image.new("RGB", (32, 32), (90, 120, 150)).save(root / "test" / "HR" / "a.png")
    Image.new("RGB", (8, 8), (90, 120, 150)).save(root / "test" / "LR" / "a.png")
    target = root / "test" / "depth" / "a.npy"
    if isinstance(depth, bytes):
        target.write_bytes(depth)
    else:
        np.save(target, depth)
    return ["eval-sr", *SMOKE, "--dataset", "srfolder", "--data-root", str(root),
            "--out", str(ctx.out)]


def _pickled_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return buf.getvalue()


def _config(ctx: Ctx, content: bytes | None = None, kind: str = "file") -> list[str]:
    path = ctx.tmp / "cfg.yaml"
    if kind == "dir":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path)
    elif content is not None:
        path.write_bytes(content)
    return _run(ctx, "--config", str(path), "--dry-run")


def _damaged_run(ctx: Ctx, edit: Callable[[Path], None]) -> list[str]:
    copy = ctx.tmp / "runs" / ctx.run_dir.name
    shutil.copytree(ctx.run_dir, copy)
    edit(copy)
    return ["table", "--run", str(copy)]


def _first_rows(run: Path) -> Path:
    return sorted((run / "rows").glob("*.csv"))[0]


def _loop_out(ctx: Ctx) -> list[str]:
    loop = ctx.tmp / "loop"
    loop.symlink_to(loop)
    return ["run", *SMOKE, "--model", "fcn", "--out", str(loop)]


def _file_out(ctx: Ctx) -> list[str]:
    f = ctx.tmp / "a-file"
    f.write_text("x")
    return ["run", *SMOKE, "--model", "fcn", "--out", str(f)]


CASES: list[tuple[str, Callable[[Ctx], list[str]], str]] = [
    # -- names, with did-you-mean ----------------------------------------------------------
    ("task typo", lambda c: _run(c, "--task", "segmentaton"), "unknown task 'segmentaton'"),
    ("profile typo", lambda c: ["run", "--profile", "smok", "--out", str(c.out)], "did you mean 'smoke'"),
    ("dataset typo", lambda c: _run(c, "--dataset", "synthsewer-pip"), "did you mean 'synthsewer-pipe'"),
    ("model typo", lambda c: ["run", *SMOKE, "--model", "fnc", "--out", str(c.out)], "did you mean 'segmentation/fcn'"),
    ("backend typo", lambda c: _run(c, "--backend", "bicubc"), "did you mean 'bicubic'"),
    ("backend twice", lambda c: _run(c, "-b", "bicubic", "-b", "bicubic"), "listed twice"),
    ("executor", lambda c: _run(c, "--executor", "slurm"), "expected local or ray"),
    ("config key typo", lambda c: _run(c, "--set", "task.epoch=2"), "did you mean 'task.epochs'"),
    # -- --set shapes ------------------------------------------------------------------------
    ("set a section", lambda c: _run(c, "--set", "task=5"), "'task' is a section"),
    ("set into a list", lambda c: _run(c, "--set", "seeds.x=1"), "'seeds' is a value"),
    ("set into profile", lambda c: _run(c, "--set", "profile.x=1"), "the profile is chosen with --profile"),
    ("set profile", lambda c: _run(c, "--set", "profile=paper"), "the profile is chosen with --profile"),
    ("set without =", lambda c: _run(c, "--set", "task.epochs"), "expected key=value"),
    # -- values ------------------------------------------------------------------------------
    ("threads -1", lambda c: _run(c, "--set", "threads=-1"), "config key 'threads'"),
    ("threads text", lambda c: _run(c, "--set", "threads=two"), "config key 'threads'"),
    ("device banana", lambda c: _run(c, "--set", "device=banana"), "expected auto, cpu, cuda, cuda:N or mps (got 'banana')"),
    ("device absent", lambda c: _run(c, "--set", "device=cuda:99"), "device='cuda:99': this machine has"),
    ("n_test 0", lambda c: _run(c, "--set", "data.n_test=0"), "config key 'data.n_test'"),
    ("negative lr", lambda c: _run(c, "--set", "task.lr=-1"), "config key 'task.lr'"),
    ("protocol", lambda c: _run(c, "--set", "task.protocol=sometimes"), "config key 'task.protocol'"),
    ("ref policy", lambda c: _run(c, "--set", "sr.ref_policy=random"), "config key 'sr.ref_policy'"),
    ("no models", lambda c: ["run", *SMOKE, "--out", str(c.out), "--set", "task.models=[]"], "task.models is empty"),
    ("model option", lambda c: _run(c, "--set", "task.model_options.fcn={epoch: 1}"), "unknown key(s) epoch"),
    # -- sr.hparams / sr.weights against the registry ------------------------------------------
    ("hparam typo", lambda c: _run(c, "-b", "edsr", "--set", "sr.hparams.edsr={global_skp: true}"), "not a hyper-parameter of 'edsr'"),
    ("hparams backend typo", lambda c: _run(c, "--set", "sr.hparams.edrs={global_skip: true}"), "unknown backend 'edrs'"),
    ("hparams fixed backend", lambda c: _run(c, "--set", "sr.hparams.bicubic={x: 1}"), "has no hyper-parameters"),
    ("weights backend typo", lambda c: _run(c, "--set", "sr.weights.edsrr=/w.safetensors"), "unknown backend 'edsrr'"),
    ("weights unused", lambda c: _run(c, "--set", "sr.weights.edsr=/w.safetensors"), "backend 'edsr' is not used"),
    ("weights missing file", lambda c: _run(c, "-b", "edsr", "--set", "sr.weights.edsr=/nonexistent.safetensors"), "file not found"),
    ("weights fixed backend", lambda c: _run(c, "--set", "sr.weights.bicubic=/w.pth"), "takes no weights"),
    # -- --config files ----------------------------------------------------------------------
    ("config missing", lambda c: _run(c, "--config", str(c.tmp / "nope.yaml")), "not found"),
    ("config directory", lambda c: _config(c, kind="dir"), "is a directory"),
    ("config loop", lambda c: _config(c, kind="loop"), "cannot read"),
    ("config not utf-8", lambda c: _config(c, b"task:\n  epochs: \xff\xfe\n"), "not UTF-8"),
    ("config bad yaml", lambda c: _config(c, b"task: [1, 2\n"), "invalid YAML"),
    ("config list", lambda c: _config(c, b"- 1\n- 2\n"), "expected a mapping"),
    ("config python tag", lambda c: _config(c, b"task: !!python/object/apply:os.system ['true']\n"), "invalid YAML"),
    # -- --data-root and the dataset -------------------------------------------------------------
    ("data-root with generated", lambda c: _run(c, "--data-root", str(c.pipe)), "is generated and reads no files"),
    ("pipe without data-root", lambda c: _run(c, "--dataset", "pipe"), "pass --data-root"),
    ("data-root missing", lambda c: _run(c, "--dataset", "pipe", "--data-root", str(c.tmp / "x")), "not a directory"),
    ("dataset without masks", lambda c: _run(c, "--dataset", "synthsewer-cls"), "carry no mask annotations"),
    # -- Pipe-format files ---------------------------------------------------------------------
    ("16-bit image", lambda c: _pipe_run(c, _image_16bit), "16-bit PNG"),
    ("transparent image", lambda c: _pipe_run(c, _replace_image("RGBA", (10, 20, 30, 0))), "transparent pixels"),
    ("16-bit grey image", lambda c: _pipe_run(c, _replace_image("I;16", 300)), "16-bit PNG"),
    ("truncated image", lambda c: _pipe_run(c, _truncate("images")), "not a readable image"),
    ("RGB mask", lambda c: _pipe_run(c, _edit_mask(lambda m: np.stack([m] * 3, -1))), "mask must be an 8-bit index PNG"),
    ("mask value", lambda c: _pipe_run(c, _edit_mask(lambda m: np.where(m == 0, 9, m).astype(np.uint8))), "exceed the"),
    ("mask size", lambda c: _pipe_run(c, _edit_mask(lambda m: m[:-2])), "differs from image size"),
    ("mask missing", lambda c: _pipe_run(c, lambda r: _first(r, "masks").unlink()), "has no mask"),
    ("empty test split", lambda c: _pipe_run(c, _empty_test), "split has no samples"),
    ("size not divisible", lambda c: _pipe_run(c, _crop_image_and_mask), "not divisible by the scale 4"),
    ("coco json", lambda c: _pipe_run(c, lambda r: (r / "annotations" / "instances_test.json").write_text("{")), "invalid JSON"),
    # -- SR-folder depth -------------------------------------------------------------------------
    ("depth inf", lambda c: _srfolder(c, np.full((32, 32), np.inf, np.float32)), "non-finite"),
    ("depth negative", lambda c: _srfolder(c, np.full((32, 32), -1.0, np.float32)), "negative values"),
    ("depth pickled", lambda c: _srfolder(c, _pickled_npy()), "not a readable .npy"),
    ("depth integer", lambda c: _srfolder(c, np.ones((32, 32), np.uint8)), "must be a float array"),
    # -- the store, --out ------------------------------------------------------------------------
    ("rows damaged", lambda c: _damaged_run(c, lambda r: _first_rows(r).write_bytes(b"\xff\xfe\x00garbage")), "damaged rows file"),
    ("rows columns", lambda c: _damaged_run(c, lambda r: _first_rows(r).write_text("a,b\n1,2\n")), "columns"),
    ("manifest damaged", lambda c: _damaged_run(c, lambda r: (r / "manifest.json").write_text("{")), "damaged manifest"),
    ("no run folder", lambda c: ["table", "--run", str(c.tmp / "none")], "no run folder"),
    ("out is a file", _file_out, "cannot write the run folder"),
    ("out loops", _loop_out, "cannot write the run folder"),
    ("lr size", lambda c: ["cost", "--lr-size", "128by128"], "expected WIDTHxHEIGHT"),
]


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """A finished smoke run (FCN) in --out, the cache it filled, and a Pipe dataset."""
    from bench.cli import main

    base = tmp_path_factory.mktemp("bad-inputs")
    out, pipe = base / "out", base / "pipe"
    assert main(["synth", "--view", "pipe", "--out", str(pipe), "--n-train", "2",
                 "--n-val", "1", "--n-test", "2", "--json"]) == 0
    assert main(["run", *SMOKE, "--model", "fcn", "--out", str(out), "--json"]) == 0
    (run_dir,) = [p for p in out.iterdir() if (p / "manifest.json").exists()]
    cache = Path(os.environ["SEWER_BENCH_CACHE"])
    return out, run_dir, pipe, cache


def test_at_least_40_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 40


@pytest.mark.parametrize("name, build, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(name, build, fragment, computed,
                                                         bench_cli, tmp_path):
    out, run_dir, pipe, cache = computed
    before = tree(out, cache)
    args = build(Ctx(out, run_dir, pipe, tmp_path))
    code, stdout, err = bench_cli(*args)
    assert code == 2, f"{name}: exit {code}\n{err}"
    assert fragment.lower() in err.lower(), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    after = tree(out, cache)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, f"{name} changed, added or removed: {changed}"


def test_float_images_in_unit_range_are_scaled_and_bad_ranges_refused():
    """The image-metric API: [0, 1] floats give the uint8 numbers; what it cannot read is
    refused (other dtypes, mixed scales, too small for SSIM after the crop)."""
    from skimage.metrics import peak_signal_noise_ratio

    from bench.metrics.image_quality import psnr, ssim

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-6, 7, a.shape), 0, 255).astype(np.uint8)
    ref = peak_signal_noise_ratio(a[4:-4, 4:-4], b[4:-4, 4:-4], data_range=255)
    assert psnr(a, b, 4, y_channel=False) == pytest.approx(ref, abs=1e-4)
    assert psnr(a / 255.0, b / 255.0, 4, y_channel=False) == pytest.approx(ref, abs=1e-4)
    assert ssim(a / 255.0, b / 255.0) == pytest.approx(ssim(a, b), abs=1e-9)
    for bad, msg in [((a.astype(np.uint16), b.astype(np.uint16)), "dtype uint16"),
                     ((a, b / 255.0), "same scale"),
                     ((a * 2.0, b * 2.0), "expected 0-255"),
                     ((a[:18, :18], b[:18, :18]), "needs at least 11x11")]:
        with pytest.raises(ValueError, match=msg):
            ssim(*bad) if "11x11" in msg else psnr(*bad)


def test_documented_conversions(tmp_path):
    """Grey / palette / opaque RGBA images are converted to RGB losslessly (documented in
    imageio.read_rgb); nothing else is converted."""
    from bench.datasets.imageio import read_rgb

    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(grey).save(tmp_path / "l.png")
    assert (read_rgb(tmp_path / "l.png") == grey[..., None]).all()
    rgba = np.dstack([np.full((8, 8, 3), 77, np.uint8), np.full((8, 8), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert (read_rgb(tmp_path / "rgba.png") == 77).all()
