"""Sewer-ML format at the CLI boundary: every malformed CSV is one line naming the file, the
line and the column, exit 2; Filenames are confined to --data-root; the fingerprint follows
the bytes; splits stay lazy."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bench.datasets.base import Sample, Target
from bench.datasets.sewerml import LABELS, SewerMLDataset, _LazySamples
from bench.datasets.writers import write_sewerml


class _Tiny:
    name, classes = "tiny-cls", list(LABELS)

    def __init__(self, n: int = 3):
        rng = np.random.default_rng(0)
        self._splits = {}
        for split in ("train", "val", "test"):
            samples = []
            for i in range(n):
                labels = (rng.uniform(size=len(LABELS)) < 0.2).astype(np.uint8)
                samples.append(Sample(f"{split}/{i:03d}", rng.integers(0, 255, (16, 16, 3),
                                                                        dtype=np.uint8),
                                      Target(labels=labels)))
            self._splits[split] = samples

    def split(self, name):
        return self._splits[name]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_sewerml(_Tiny(), tmp_path / "ml")


def _fails(bench_cli, root: Path, *needles: str) -> str:
    code, out, err = bench_cli("run", "--task", "classification", "--profile", "smoke",
                               "--dataset", "sewerml", "--data-root", str(root), "--dry-run",
                               "--out", str(root.parent / "runs"))
    assert code == 2, (out, err)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_missing_column(bench_cli, root):
    csv = root / "SewerML_Val.csv"
    rows = csv.read_text().splitlines()
    csv.write_text("\n".join(",".join(r.split(",")[:-1]) for r in rows) + "\n")  # drop OK
    _fails(bench_cli, root, "SewerML_Val.csv", "line 1", "OK")


def test_label_not_binary(bench_cli, root, edit_csv):
    edit_csv(root / "SewerML_Train.csv", 3, "PF", "0.5")
    _fails(bench_cli, root, "SewerML_Train.csv", "line 3", "column PF", "'0.5'")


def test_duplicate_filename(bench_cli, root, edit_csv):
    csv = root / "SewerML_Val.csv"
    first = csv.read_text().splitlines()[1].split(",")[0]
    edit_csv(csv, 4, "Filename", first)
    _fails(bench_cli, root, "SewerML_Val.csv", "line 4", "column Filename", first, "line 2")


def test_missing_image(bench_cli, root):
    csv = root / "SewerML_Val.csv"
    name = csv.read_text().splitlines()[2].split(",")[0]
    (root / "images" / name).unlink()
    _fails(bench_cli, root, "SewerML_Val.csv", "line 3", "column Filename", name, "missing")


@pytest.mark.parametrize("bad", ["../outside.png", "images/../../x.png", "/etc/passwd",
                                 "C:/x.png", "..\\x.png"])
def test_filename_outside_the_root_is_refused(bench_cli, root, bad, edit_csv):
    (root.parent / "outside.png").write_bytes((root / "images").iterdir().__next__().read_bytes())
    edit_csv(root / "SewerML_Train.csv", 2, "Filename", bad)
    _fails(bench_cli, root, "SewerML_Train.csv", "line 2", "column Filename", "inside the data root")


def test_fingerprint_follows_the_bytes(root):
    fp = SewerMLDataset(root).fingerprint()
    victim = min((root / "images").iterdir())
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touch: same bytes
    assert SewerMLDataset(root).fingerprint() == fp
    data = bytearray(victim.read_bytes())
    data[-13] ^= 0xFF  # inside the IEND CRC: same size, other bytes
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime
    assert SewerMLDataset(root).fingerprint() != fp
    csv = root / "SewerML_Val.csv"
    fp2 = SewerMLDataset(root).fingerprint()
    csv.write_text(csv.read_text().replace(",0,", ",0 ,", 1))  # a CSV edit counts too
    assert SewerMLDataset(root).fingerprint() != fp2


def test_splits_are_lazy_even_when_small(root):
    split = SewerMLDataset(root).split("train")
    assert isinstance(split, _LazySamples) and len(split) == 3
    assert split[0].hr.shape == (16, 16, 3)
