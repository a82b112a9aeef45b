"""Folder formats: write -> read round trips, and one clear DataError per kind of bad input."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.datasets.base import SPLITS, Sample, Target
from bench.datasets.pipe import PipeDataset
from bench.datasets.sewerml import LABELS, SewerMLDataset
from bench.datasets.srfolder import SRFolderDataset
from bench.datasets.writers import write_pipe, write_sewerml, write_srfolder
from bench.errors import ConfigError, DataError

PIPE_CLASSES = ["JO", "IL", "IN"]


@dataclass
class FakeDataset:
    name: str
    classes: list[str]
    splits: dict[str, list[Sample]] = field(default_factory=dict)

    def split(self, name: str) -> list[Sample]:
        return self.splits[name]

    def fingerprint(self) -> str:
        return "fake"


def _rgb(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _pipe_sample(rng: np.random.Generator, sid: str, h: int = 40, w: int = 56) -> Sample:
    mask = np.zeros((h, w), np.uint8)
    mask[3:12, 5:20] = 1
    mask[20:35, 30:50] = 3
    mask[0, 0] = 255  # ignore pixel
    # Fractional float32 coordinates on purpose: they must survive COCO and YOLO exactly.
    boxes = np.array([[5.0, 3.0, 20.0, 12.0], [29.7, 19.3, 50.1, 35.0 + 1 / 3]], np.float32)
    return Sample(id=sid, hr=_rgb(rng, h, w),
                  target=Target(mask=mask, boxes=boxes, box_labels=np.array([1, 3], np.int64)))


def _sr_sample(rng: np.random.Generator, sid: str, with_lr: bool) -> Sample:
    h, w = 24, 32
    return Sample(id=sid, hr=_rgb(rng, h, w), refs=(_rgb(rng, h, w),),
                  depth=rng.random((h, w), dtype=np.float32) * 10,
                  ref_depths=(rng.random((h, w), dtype=np.float32),),
                  lr=_rgb(rng, h // 4, w // 4) if with_lr else None)


def _cls_sample(rng: np.random.Generator, sid: str) -> Sample:
    labels = (rng.random(len(LABELS)) < 0.2).astype(np.uint8)
    return Sample(id=sid, hr=_rgb(rng, 20, 24), target=Target(labels=labels))


def _fake(kind: str, n: int = 3) -> FakeDataset:
    rng = np.random.default_rng(0)
    make = {"pipe": lambda sid, i: _pipe_sample(rng, sid),
            "sr": lambda sid, i: _sr_sample(rng, sid, with_lr=i % 2 == 0),
            "cls": lambda sid, i: _cls_sample(rng, sid)}[kind]
    classes = {"pipe": PIPE_CLASSES, "sr": [], "cls": list(LABELS)}[kind]
    return FakeDataset(kind, classes,
                       {s: [make(f"{s}_{i:03d}", i) for i in range(n)] for s in SPLITS})


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _raises(fn, *needles: str) -> str:
    with pytest.raises(DataError) as info:
        fn()
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    return msg


# ---- SR folder ------------------------------------------------------------------------------

@pytest.fixture()
def sr_root(tmp_path: Path) -> tuple[FakeDataset, Path]:
    ds = _fake("sr")
    return ds, write_srfolder(ds, tmp_path / "sr")


def test_srfolder_round_trip(sr_root):
    from bench.degrade import DegradationConfig, degrade, sample_seed
    ds, root = sr_root
    loaded = SRFolderDataset(root=root)
    assert loaded.name == "srfolder" and loaded.classes == []
    for split in SPLITS:
        got = loaded.split(split)
        assert [s.id for s in got] == [s.id for s in ds.split(split)]
        for a, b in zip(ds.split(split), got):
            np.testing.assert_array_equal(a.hr, b.hr)
            want_lr = a.lr if a.lr is not None else degrade(a.hr, DegradationConfig(),
                                                            seed=sample_seed(0, a.id))
            np.testing.assert_array_equal(want_lr, b.lr)
            np.testing.assert_array_equal(a.refs[0], b.refs[0])
            assert b.depth.dtype == np.float32
            np.testing.assert_array_equal(a.depth, b.depth)
            np.testing.assert_array_equal(a.ref_depths[0], b.ref_depths[0])


def test_srfolder_bad_inputs(sr_root):
    _, root = sr_root
    (root / "train/LR/train_001.png").unlink()
    _raises(lambda: SRFolderDataset(root).split("train"), "train/LR/train_001.png", "missing")
    tr = root / "val"
    # LR of the wrong size
    from PIL import Image
    Image.fromarray(np.zeros((7, 8, 3), np.uint8)).save(tr / "LR/val_000.png")
    _raises(lambda: SRFolderDataset(root).split("val"), "val/LR/val_000.png", "HR/4")
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tr / "LR/val_000.png")
    Image.fromarray(np.zeros((24, 30, 3), np.uint8)).save(tr / "Ref/val_001.png")
    _raises(lambda: SRFolderDataset(root).split("val"), "val/Ref/val_001.png", "Ref size")
    te = root / "test"
    np.save(te / "depth/test_000.npy", np.zeros((24, 31), np.float32))
    _raises(lambda: SRFolderDataset(root).split("test"), "test/depth/test_000.npy", "shape")
    np.save(te / "depth/test_000.npy", np.zeros((24, 32), np.uint8))
    _raises(lambda: SRFolderDataset(root).split("test"), "test/depth/test_000.npy", "float")
    np.save(te / "depth/test_000.npy", np.zeros((24, 32), np.float64))  # accepted, cast
    assert SRFolderDataset(root).split("test")[0].depth.dtype == np.float32
    _truncate(te / "HR/test_002.png")
    _raises(lambda: SRFolderDataset(root).split("test"), "test/HR/test_002.png", "truncated")


# ---- Pipe -----------------------------------------------------------------------------------

@pytest.fixture()
def pipe_root(tmp_path: Path) -> tuple[FakeDataset, Path]:
    ds = _fake("pipe")
    return ds, write_pipe(ds, tmp_path / "pipe")


def _assert_pipe_equal(ds: FakeDataset, loaded: PipeDataset) -> None:
    for split in SPLITS:
        got = loaded.split(split)
        assert [s.id for s in got] == [s.id for s in ds.split(split)]
        for a, b in zip(ds.split(split), got):
            np.testing.assert_array_equal(a.hr, b.hr)
            np.testing.assert_array_equal(a.target.mask, b.target.mask)
            assert b.target.boxes.dtype == np.float32 and b.target.box_labels.dtype == np.int64
            np.testing.assert_array_equal(a.target.boxes, b.target.boxes)  # bit-exact
            np.testing.assert_array_equal(a.target.box_labels, b.target.box_labels)


def test_pipe_round_trip_coco_and_yolo(pipe_root):
    ds, root = pipe_root
    loaded = PipeDataset(root=root)
    assert loaded.name == "pipe" and loaded.classes == PIPE_CLASSES
    _assert_pipe_equal(ds, loaded)  # from COCO
    for f in (root / "annotations").iterdir():
        f.unlink()
    yolo = PipeDataset(root=root)  # class names now from data.yaml, boxes from YOLO txt
    assert yolo.classes == PIPE_CLASSES
    _assert_pipe_equal(ds, yolo)


def test_pipe_coco_loads_with_pycocotools(pipe_root):
    from pycocotools.coco import COCO
    ds, root = pipe_root
    coco = COCO(str(root / "annotations/instances_train.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == PIPE_CLASSES
    for img in coco.loadImgs(coco.getImgIds()):
        sample = next(s for s in ds.split("train") if f"{s.id}.png" == img["file_name"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        xyxy = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                          a["bbox"][1] + a["bbox"][3]] for a in anns], np.float32)
        np.testing.assert_array_equal(xyxy, sample.target.boxes)
        assert [a["category_id"] for a in anns] == sample.target.box_labels.tolist()


def test_pipe_bad_inputs(pipe_root):
    from PIL import Image
    _, root = pipe_root
    _truncate(root / "images/train/train_000.png")
    _raises(lambda: PipeDataset(root).split("train"), "images/train/train_000.png", "truncated")
    Image.fromarray(np.zeros((40, 55), np.uint8)).save(root / "masks/val/val_001.png")
    _raises(lambda: PipeDataset(root).split("val"), "masks/val/val_001.png", "mask size")
    bad = np.zeros((40, 56), np.uint8)
    bad[5, 5] = 7
    Image.fromarray(bad).save(root / "masks/val/val_001.png")
    _raises(lambda: PipeDataset(root).split("val"), "masks/val/val_001.png", "[7]")
    # a COCO box sticking out of the image
    path = root / "annotations/instances_test.json"
    coco = json.loads(path.read_text())
    coco["annotations"][1]["bbox"] = [40.0, 20.0, 30.0, 5.0]  # x2 = 70 > 56
    path.write_text(json.dumps(coco))
    _raises(lambda: PipeDataset(root).split("test"), "instances_test.json",
            f"annotation id {coco['annotations'][1]['id']}", "outside")
    # the same kind of error from YOLO txt, with the line number
    path.unlink()
    (root / "labels/test/test_002.txt").write_text("0 0.5 0.5 0.2 0.2\n2 0.95 0.5 0.2 0.2\n")
    _raises(lambda: PipeDataset(root).split("test"), "labels/test/test_002.txt", "line 2",
            "outside")
    (root / "labels/test/test_002.txt").write_text("0 0.5 0.5\n")
    _raises(lambda: PipeDataset(root).split("test"), "labels/test/test_002.txt", "line 1")
    # an image listed in COCO but missing on disk
    (root / "images/val/val_002.png").unlink()
    (root / "masks/val/val_002.png").unlink()
    _raises(lambda: PipeDataset(root).split("val"), "images/val/val_002.png", "missing")


def test_pipe_mask_modes(pipe_root):
    from PIL import Image
    ds, root = pipe_root
    want = ds.split("train")[0].target.mask
    pal = Image.fromarray(want).convert("P")  # palette PNG: the indices are the classes
    pal.putpalette([v for k in range(256) for v in (k * 7 % 256, k * 3 % 256, 255 - k)])
    pal.save(root / "masks/train/train_000.png")
    np.testing.assert_array_equal(PipeDataset(root).split("train")[0].target.mask, want)
    Image.fromarray(np.stack([want] * 3, -1)).save(root / "masks/train/train_000.png")
    _raises(lambda: PipeDataset(root).split("train"), "masks/train/train_000.png", "mode 'RGB'")


def test_pipe_needs_class_names(pipe_root):
    _, root = pipe_root
    for f in (root / "annotations").iterdir():
        f.unlink()
    (root / "data.yaml").unlink()
    _raises(lambda: PipeDataset(root), "no class names")


# ---- Sewer-ML -------------------------------------------------------------------------------

@pytest.fixture()
def ml_root(tmp_path: Path) -> tuple[FakeDataset, Path]:
    ds = _fake("cls")
    return ds, write_sewerml(ds, tmp_path / "sewerml")


def test_sewerml_round_trip(ml_root):
    ds, root = ml_root
    loaded = SewerMLDataset(root=root)
    assert loaded.name == "sewerml" and loaded.classes == LABELS
    for split in SPLITS:
        got = loaded.split(split)
        assert [s.id for s in got] == [s.id for s in ds.split(split)]
        for a, b in zip(ds.split(split), got):
            np.testing.assert_array_equal(a.hr, b.hr)
            np.testing.assert_array_equal(a.target.labels, b.target.labels)
    header = (root / "SewerML_Val.csv").read_text().splitlines()[0]
    assert header == "Filename,Defect,WaterLevel," + ",".join(LABELS)


def test_sewerml_default_split_is_every_tenth_train_row(tmp_path):
    ds = _fake("cls", n=10)
    root = write_sewerml(ds, tmp_path / "ml")
    df = pd.read_csv(root / "SewerML_Train.csv").drop(columns=["Split"])
    df.to_csv(root / "SewerML_Train.csv", index=False)
    loaded = SewerMLDataset(root)
    names = sorted(df["Filename"].str[:-4])
    assert [s.id for s in loaded.split("val")] == [names[9], names[19]]
    assert len(loaded.split("train")) == 18
    assert [s.id for s in loaded.split("test")] == [s.id for s in ds.split("test")]


def test_sewerml_bad_inputs(ml_root, edit_csv):
    _, root = ml_root
    csv = root / "SewerML_Train.csv"
    good = csv.read_text()
    df = pd.read_csv(csv)
    df.drop(columns=["OB", "WaterLevel"]).to_csv(csv, index=False)
    _raises(lambda: SewerMLDataset(root).split("train"), "SewerML_Train.csv", "OB", "WaterLevel")
    csv.write_text(good)
    edit_csv(csv, 3, "RO", "2")
    _raises(lambda: SewerMLDataset(root).split("train"), "SewerML_Train.csv", "line 3",
            "column RO", "'2'", df["Filename"][1])
    csv.write_text(good)
    edit_csv(csv, 4, "Defect", str(1 - int(df["Defect"][2])))
    _raises(lambda: SewerMLDataset(root).split("val"), "line 4", "column Defect",
            "disagrees")
    csv.write_text(good)
    rows = good.splitlines()
    rows[2] += ",extra"
    csv.write_text("\n".join(rows) + "\n")
    _raises(lambda: SewerMLDataset(root).split("train"), "SewerML_Train.csv", "malformed")
    rows = good.splitlines()
    rows[2] = ",".join(rows[2].split(",")[:5])
    csv.write_text("\n".join(rows) + "\n")
    _raises(lambda: SewerMLDataset(root).split("train"), "SewerML_Train.csv", "line 3",
            "shorter")
    csv.write_text(good)
    (root / "images/test_001.png").unlink()
    _raises(lambda: SewerMLDataset(root).split("test"), "test_001.png", "missing",
            "SewerML_Val.csv")
    _truncate(root / "images/train_002.png")
    _raises(lambda: SewerMLDataset(root).split("train"), "images/train_002.png", "truncated")
    lazy = SewerMLDataset(root, eager=False).split("train")  # decoded on access instead
    assert len(lazy) == 3
    lazy[0]
    _raises(lambda: lazy[2], "images/train_002.png")


def test_sewerml_images_in_root_folder(ml_root):
    ds, root = ml_root
    for f in (root / "images").iterdir():
        os.replace(f, root / f.name)
    (root / "images").rmdir()
    np.testing.assert_array_equal(SewerMLDataset(root).split("test")[1].hr,
                                  ds.split("test")[1].hr)


# ---- shared behaviour -----------------------------------------------------------------------

def test_fingerprints_and_registry(pipe_root, sr_root, ml_root):
    from bench.datasets import open_dataset
    for name, (_, root) in {"pipe": pipe_root, "srfolder": sr_root, "sewerml": ml_root}.items():
        ds = open_dataset(name, data_root=root)
        fp = ds.fingerprint()
        assert fp == type(ds)(root).fingerprint()
        victim = next(p for p in sorted(root.rglob("*.png")))
        st = victim.stat()
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        # folder formats hash contents: a touch changes nothing, an edit that keeps the
        # size and the mtime changes the fingerprint
        assert type(ds)(root).fingerprint() == fp, name
        data = bytearray(victim.read_bytes())
        data[-13] ^= 0xFF  # inside the IEND chunk's CRC: same size, other bytes
        victim.write_bytes(bytes(data))
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert type(ds)(root).fingerprint() != fp, name


def test_writer_refuses_non_empty_out(tmp_path):
    ds = _fake("pipe", n=1)
    out = write_pipe(ds, tmp_path / "p")
    with pytest.raises(ConfigError, match="not empty"):
        write_pipe(ds, out)
    write_pipe(ds, out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no staging leftovers


def test_synthsewer_pipe_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path / "cache"))  # keep ~/.cache clean
    from bench.datasets import synthsewer as synth

    ds = synth.SynthSewerPipe(seed=0, n_train=2, n_val=1, n_test=1)
    loaded = PipeDataset(write_pipe(ds, tmp_path / "synth"))
    assert loaded.classes == list(ds.classes)
    for split in SPLITS:
        for a, b in zip(ds.split(split), loaded.split(split), strict=True):
            assert b.id == a.id.replace("/", "_")
            np.testing.assert_array_equal(a.hr, b.hr)
            np.testing.assert_array_equal(a.target.mask, b.target.mask)
            np.testing.assert_array_equal(np.asarray(a.target.boxes, np.float32).reshape(-1, 4),
                                          b.target.boxes)
            np.testing.assert_array_equal(a.target.box_labels, b.target.box_labels)
