"""Sewer-ML multi-label classification (Haurum & Moeslund, CVPR 2021) CSVs + images.

On disk::

    ROOT/SewerML_Train.csv    header: Filename,Defect,WaterLevel,RB,OB,PF,DE,FS,IS,RO,IN,AF,
    ROOT/SewerML_Val.csv              BE,FO,GR,PH,PB,OS,OP,OK   (extra columns are ignored)
    ROOT/images/<Filename>    images (Sewer-ML ships one flat folder); ROOT/<Filename> also works

Each row: Filename (unique), Defect = 1 iff any of the 17 labels is 1, WaterLevel an integer
percentage 0..100, and 17 label columns holding 0 or 1. The 17 label columns are the classes,
in that order; a row with no label is "normal". Sample id = Filename without its extension.

Split mapping (the authors withhold the test labels, so their Val split is the evaluation set):
- test  = every row of SewerML_Val.csv;
- train / val = SewerML_Train.csv split deterministically: rows sorted by Filename, the 10th,
  20th, ... (0-based position % 10 == 9) go to val, the rest to train. If the Train CSV has an
  optional `Split` column (values train / val; written by `write_sewerml` so a written dataset
  reads back with its own split), that column decides instead.

Validation happens when a split is opened, one line naming the file, the CSV line (the header
is line 1) and the column: missing columns (all named), malformed rows, non-0/1 values, Defect
disagreeing with the labels, WaterLevel out of range, duplicate filenames, a Filename that is
absolute or contains `..` (images are confined to ROOT), missing image files. Splits are always
lazy: an image is decoded when indexed and never kept (real Sewer-ML holds 1.3M images). Splits
of at most EAGER_MAX rows are also decoded once when opened (and dropped), so a corrupt file is
reported then; `eager=False` skips that check, `eager=True` forces it for any size. The
fingerprint hashes the bytes of both CSVs and of every referenced image
(`imageio.files_fingerprint`), so any edit changes it and a copy or touch does not.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import overload

import numpy as np
import pandas as pd

from bench.datasets.base import SPLITS, CachedSplits, Sample, Target
from bench.datasets.imageio import files_fingerprint, read_rgb
from bench.errors import DataError

LABELS = ["RB", "OB", "PF", "DE", "FS", "IS", "RO", "IN", "AF", "BE", "FO", "GR", "PH", "PB",
          "OS", "OP", "OK"]
COLUMNS = ["Filename", "Defect", "WaterLevel", *LABELS]
TRAIN_CSV, VAL_CSV = "SewerML_Train.csv", "SewerML_Val.csv"
SPLIT_COLUMN = "Split"
VAL_EVERY = 10
EAGER_MAX = 2048


def _confined(name: str) -> bool:
    """A Filename stays inside ROOT: relative, no '..' part, no drive, no backslash tricks."""
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts
                or PurePosixPath(name).is_absolute())


def read_sewerml_csv(path: Path) -> pd.DataFrame:
    """Read and validate one Sewer-ML CSV -> DataFrame (Filename str, Defect/WaterLevel/labels int)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(path, f"malformed CSV: {str(exc).strip()}") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, f"line 1 (header): missing column(s) {', '.join(missing)} "
                              f"(header must include {','.join(COLUMNS)})")
    df = df.fillna("")  # short rows: their missing fields read as empty
    # Blank lines are kept by read_csv (so positions map to line numbers), then dropped here.
    df = df[(df != "").any(axis=1)]
    lines = df.index.to_numpy() + 2  # header is line 1
    df = df.reset_index(drop=True)

    def _line(row: int) -> int:
        return int(lines[row])

    names = df["Filename"].str.strip()
    if (names == "").any():
        raise DataError(path, f"line {_line(int(np.argmax((names == '').to_numpy())))}, "
                              "column Filename: empty")
    for r, name in enumerate(names):
        if not _confined(name):
            raise DataError(path, f"line {_line(r)}, column Filename: {name!r} must be a path "
                                  "inside the data root (no absolute path, no '..')")
    dup = names.duplicated().to_numpy()
    if dup.any():
        r = int(np.argmax(dup))
        first = int(np.argmax((names == names.iloc[r]).to_numpy()))
        raise DataError(path, f"line {_line(r)}, column Filename: duplicate {names.iloc[r]!r} "
                              f"(first on line {_line(first)})")
    binary = ["Defect", *LABELS]
    values = df[binary].apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    bad = ~values.isin([0, 1]).to_numpy()
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])  # argwhere is row-major: first bad row
        value = df[binary[c]].iloc[r]
        hint = " (row shorter than the header?)" if value == "" else ""
        if value.strip() == "-1":
            hint = (" (-1 is refused rather than guessed: the official Sewer-ML evaluation counts "
                    "only 1 as positive, so write 0 for a negative)")
        raise DataError(path, f"line {_line(r)}, column {binary[c]}: value {value!r} is not "
                              f"0 or 1{hint} (file {names.iloc[r]})")
    labels = values[LABELS].to_numpy(np.uint8)
    defect = values["Defect"].to_numpy(np.uint8)
    wrong = defect != labels.any(axis=1)
    if wrong.any():
        r = int(np.argmax(wrong))
        set_ = [c for c, v in zip(LABELS, labels[r]) if v]
        raise DataError(path, f"line {_line(r)}, column Defect: {defect[r]} disagrees with the "
                              f"labels ({', '.join(set_) + ' set' if set_ else 'none set'}; "
                              f"Defect must be 1 iff any label is 1) (file {names.iloc[r]})")
    water = pd.to_numeric(df["WaterLevel"].str.strip(), errors="coerce").to_numpy(np.float64)
    bad_w = ~(np.isfinite(water) & (water == np.round(water)) & (water >= 0) & (water <= 100))
    if bad_w.any():
        r = int(np.argmax(bad_w))
        raise DataError(path, f"line {_line(r)}, column WaterLevel: value "
                              f"{df['WaterLevel'].iloc[r]!r} is not an integer percentage 0..100 "
                              f"(file {names.iloc[r]})")
    out = pd.DataFrame({"Filename": names, "Defect": defect, "WaterLevel": water.astype(np.int64)})
    out[LABELS] = labels
    out["line"] = lines
    if SPLIT_COLUMN in df.columns:
        out[SPLIT_COLUMN] = df[SPLIT_COLUMN].str.strip()
    return out


class _LazySamples(Sequence[Sample]):
    """Samples whose images are decoded on access (labels are already in memory)."""

    def __init__(self, ids: list[str], paths: list[Path], labels: np.ndarray):
        self._ids, self._paths, self._labels = ids, paths, labels

    def __len__(self) -> int:
        return len(self._ids)

    def _make(self, i: int) -> Sample:
        return Sample(id=self._ids[i], hr=read_rgb(self._paths[i]),
                      target=Target(labels=self._labels[i].copy()))

    @overload
    def __getitem__(self, i: int) -> Sample: ...
    @overload
    def __getitem__(self, i: slice) -> list[Sample]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._make(j) for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self._make(i % len(self))


class SewerMLDataset(CachedSplits):
    """Reads Sewer-ML CSVs; see the module docstring for the split mapping."""

    name = "sewerml"

    def __init__(self, root: Path, eager: bool | None = None):
        self.root = Path(root)
        self.eager = eager
        self.classes: list[str] = list(LABELS)
        self._tables: dict[str, pd.DataFrame] = {}
        self._cache: dict[str, Sequence[Sample]] = {}
        if not (self.root / TRAIN_CSV).is_file() and not (self.root / VAL_CSV).is_file():
            raise DataError(self.root, f"neither {TRAIN_CSV} nor {VAL_CSV} found")

    def _table(self, csv_name: str) -> pd.DataFrame:
        if csv_name not in self._tables:
            path = self.root / csv_name
            self._tables[csv_name] = (read_sewerml_csv(path) if path.is_file()
                                      else pd.DataFrame(columns=[*COLUMNS, "line"]))
        return self._tables[csv_name]

    def _rows(self, split: str) -> pd.DataFrame:
        self._check_no_leakage()
        if split == "test":
            return self._table(VAL_CSV)
        df = self._table(TRAIN_CSV)
        if SPLIT_COLUMN in df.columns:
            bad = ~df[SPLIT_COLUMN].isin(["train", "val"]).to_numpy()
            if bad.any():
                r = int(np.argmax(bad))
                raise DataError(self.root / TRAIN_CSV, f"line {df['line'].iloc[r]}, column "
                                f"{SPLIT_COLUMN}: {df[SPLIT_COLUMN].iloc[r]!r} is not train or val")
            return df[df[SPLIT_COLUMN] == split]
        df = df.sort_values("Filename", kind="stable")
        is_val = (np.arange(len(df)) % VAL_EVERY) == VAL_EVERY - 1
        return df[is_val] if split == "val" else df[~is_val]

    def _check_no_leakage(self) -> None:
        """An image listed in both CSVs would be trained on and evaluated on: refused."""
        train, val = self._table(TRAIN_CSV), self._table(VAL_CSV)
        both = pd.Index(train["Filename"]).intersection(pd.Index(val["Filename"]))
        if len(both):
            line = int(val["line"][val["Filename"] == both[0]].iloc[0])
            raise DataError(self.root / VAL_CSV, f"line {line}, column Filename: {both[0]!r} is "
                            f"also in {TRAIN_CSV} ({len(both)} image(s) in both: training "
                            "images would be evaluated on)")

    def _image_paths(self, rows: pd.DataFrame, csv_path: Path) -> list[Path]:
        # One directory listing instead of a stat per file: Sewer-ML folders are huge.
        img_dir = self.root / "images"
        in_images = set(os.listdir(img_dir)) if img_dir.is_dir() else set()
        in_root = set(os.listdir(self.root))
        paths = []
        for fname, line in zip(rows["Filename"], rows["line"]):
            if fname in in_images or ("/" in fname and (img_dir / fname).is_file()):
                paths.append(img_dir / fname)
            elif fname in in_root or ("/" in fname and (self.root / fname).is_file()):
                paths.append(self.root / fname)
            else:
                raise DataError(csv_path, f"line {line}, column Filename: image {fname!r} "
                                          f"missing (looked in {img_dir} and {self.root})")
        return paths

    def _load(self, split: str) -> Sequence[Sample]:
        rows = self._rows(split)
        csv_path = self.root / (VAL_CSV if split == "test" else TRAIN_CSV)
        paths = self._image_paths(rows, csv_path)
        ids = [Path(f).stem for f in rows["Filename"]]
        seen: dict[str, str] = {}
        for sid, fname in zip(ids, rows["Filename"]):
            if sid in seen:
                raise DataError(csv_path, f"files {seen[sid]} and {fname} give the same id {sid!r}")
            seen[sid] = fname
        lazy = _LazySamples(ids, paths, rows[LABELS].to_numpy(np.uint8))
        check = self.eager if self.eager is not None else len(lazy) <= EAGER_MAX
        if check:  # decode once to report a corrupt file now; keep nothing
            for p in paths:
                read_rgb(p)
        return lazy

    def validate(self) -> None:
        """Both CSVs, the train/val/test leakage check and every referenced image's presence,
        now, before a run folder is written (images are decoded per split as `_load` does)."""
        for split in SPLITS:
            if len(self._rows(split)):
                self.split(split)

    def _files(self, splits: tuple[str, ...], csvs: tuple[str, ...]) -> list[Path]:
        files = [self.root / c for c in csvs if (self.root / c).is_file()]
        for split in splits:
            rows = self._rows(split)
            csv_path = self.root / (VAL_CSV if split == "test" else TRAIN_CSV)
            files += self._image_paths(rows, csv_path)
        return list(dict.fromkeys(files))

    def fingerprint(self) -> str:
        return files_fingerprint(self.name, self.root, self._files(SPLITS, (TRAIN_CSV, VAL_CSV)),
                                 self.__dict__.setdefault("_digest_memo", {}))

    def training_fingerprint(self) -> str:
        """What a task model learns from: the Train CSV (train + val) and its images; an
        edit of the Val CSV (the evaluation split) or its images leaves it as is."""
        return files_fingerprint(f"{self.name}-train", self.root,
                                 self._files(("train", "val"), (TRAIN_CSV,)),
                                 self.__dict__.setdefault("_digest_memo", {}))
