"""Datasets: one module per format, one line per entry in DATASETS.

SynthSewer views are generated (deterministic from a seed, cached on disk); the folder formats
read real data from `--data-root`. Every entry is a class whose constructor takes the keyword
arguments listed in `open_dataset`.
"""
from __future__ import annotations

from pathlib import Path

from bench.errors import ConfigError
from bench.registry import Registry

DATASETS: Registry = Registry(
    "dataset",
    {
        "synthsewer-sr": "bench.datasets.synthsewer:SynthSewerSR",
        "synthsewer-pipe": "bench.datasets.synthsewer:SynthSewerPipe",
        "synthsewer-cls": "bench.datasets.synthsewer:SynthSewerCls",
        "srfolder": "bench.datasets.srfolder:SRFolderDataset",
        "pipe": "bench.datasets.pipe:PipeDataset",
        "sewerml": "bench.datasets.sewerml:SewerMLDataset",
    },
    {
        "synthsewer-sr": "SynthSewer SR view: HR 448x320 / LR 112x80, next-frame Ref, exact depth",
        "synthsewer-pipe": "SynthSewer Pipe-like view: 256x256, index masks + boxes (JO, IL, IN, ...)",
        "synthsewer-cls": "SynthSewer Sewer-ML-like view: multi-label over the 17 Sewer-ML classes",
        "srfolder": "SR folder format: {split}/HR, LR, Ref, depth .npy (needs --data-root)",
        "pipe": "Pipe-like folders: images + PNG index masks + COCO JSON / YOLO txt (needs --data-root)",
        "sewerml": "Sewer-ML CSVs (Filename, Defect, WaterLevel + 17 labels) + images (needs --data-root)",
    },
)

GENERATED = ("synthsewer-sr", "synthsewer-pipe", "synthsewer-cls")


def resolve_root(path: Path | None, option: str = "--data-root") -> Path | None:
    """The absolute path of a data folder; a symlink loop or unreadable path is one line."""
    if path is None:
        return None
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: "Symlink loop" (Python < 3.13)
        raise ConfigError(f"{option} {path}: cannot resolve the path ({exc}); expected a "
                          "directory") from None


def open_dataset(name: str, *, seed: int = 0, n_train: int = 64, n_val: int = 16,
                 n_test: int = 32, data_root: Path | None = None):
    """Build dataset `name`; generated ones take sizes + seed, folder ones take `data_root`."""
    factory = DATASETS.get(name)
    if name in GENERATED:
        if data_root is not None:  # ignoring it would silently benchmark other data
            raise ConfigError(f"--data-root {data_root}: dataset {name!r} is generated and "
                              "reads no files; choose a folder format (pipe, srfolder, "
                              "sewerml) to read it")
        return factory(seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    if data_root is None:
        raise ConfigError(f"dataset {name!r} reads files: pass --data-root DIR "
                          f"(e.g. a folder written by `bench synth`)")
    root = resolve_root(data_root)
    if not root.is_dir():
        raise ConfigError(f"--data-root {root}: not a directory")
    dataset = factory(root=root)
    validate = getattr(dataset, "validate", None)
    if validate is not None:  # every split checked at the boundary, not mid-run
        validate()
    return dataset


def sr_data_note(data, trained: list[str]) -> str:
    """One line when SR backends learn from other data than the task's: a task on a real
    `--data-root` with backends trained on `data.sr_dataset` (SynthSewer-SR by default) or
    on another folder. `data` is the config's `data` section; `trained` the backends the
    harness trains (a user's weights file says nothing of its data). '' otherwise."""
    if not trained or data.data_root is None:
        return ""
    src = data.sr_dataset + (f" at {data.sr_data_root}" if data.sr_data_root else "")
    if data.sr_data_root is not None and resolve_root(data.sr_data_root) == resolve_root(data.data_root):
        return ""
    return (f"note: SR backends {', '.join(trained)} are trained on {src}, not on the task's "
            f"data ({data.dataset} at {data.data_root}); set data.sr_dataset and "
            "data.sr_data_root to train them on your own SR data")


def training_fingerprint(dataset) -> str:
    """What a task model trained on `dataset` depends on: its train and val splits (folder
    formats: `training_fingerprint()`), else the whole dataset's fingerprint (generated data,
    whose splits come from one seed)."""
    own = getattr(dataset, "training_fingerprint", None)
    return own() if own is not None else dataset.fingerprint()


def check_task_data(dataset, target: str, task: str, name: str) -> None:
    """What a task run needs of its data, before any sample is generated or a run folder is
    written: samples that can carry the task's `target` (a generated dataset declares
    `targets`), and for a folder dataset (read when opened) a training split."""
    declared = getattr(dataset, "targets", None)
    if declared is not None and target not in declared:
        raise ConfigError(f"--dataset {name}: its samples carry no {target} annotations, "
                          f"which the {task} task needs")
    if hasattr(dataset, "validate"):
        dataset.split("train")  # a DataError naming the folder when it is empty
