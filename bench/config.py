"""Typed configuration: YAML defaults + profile + user file + `--set key=value`, validated once.

Order of precedence (later wins): `configs/defaults.yaml` < `configs/profiles/<profile>.yaml`
< `--config FILE` < `--set key=value`. The merged mapping is validated by pydantic exactly once
(`load_config`); every later layer works with the typed `BenchConfig`. Unknown keys are errors
with a did-you-mean, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bench.degrade_config import DegradationConfig
from bench.errors import ConfigError
from bench.paths import config_dir
from bench.registry import Registry, did_you_mean
from bench.training.config import DistillSettings, SRTrainSettings
from bench.training.td_config import TaskDrivenSettings

CONFIG_DIR = config_dir()
DEFAULT_TASK = "segmentation"  # the one default; configs/defaults.yaml leaves task.name unset
DEFAULT_PROFILE = "quick"


def profile_names() -> list[str]:
    """The profiles: one per configs/profiles/<name>.yaml (the folder is the one list)."""
    return sorted(p.stem for p in (CONFIG_DIR / "profiles").glob("*.yaml"))


def check_profile(name: object) -> str:
    known = profile_names()
    if name not in known:
        raise ConfigError(f"unknown profile {name!r}.{did_you_mean(str(name), known)} "
                          f"Known: {', '.join(known)}")
    return str(name)
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:[0-9]+)?)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


class DataConfig(_Strict):
    dataset: str = Field("synthsewer-pipe", description="the task's dataset (default: the task's)")
    sr_dataset: str = Field("synthsewer-sr", description="dataset SR backends are trained on")
    data_root: Path | None = None
    sr_data_root: Path | None = None
    n_train: int = Field(64, ge=1)
    n_val: int = Field(16, ge=1)
    n_test: int = Field(32, ge=1)
    seed: int = 0


class SREvalConfig(_Strict):
    """How `bench eval-sr` sizes a generated SR dataset's test split (not part of any key)."""

    n_test: int = Field(16, ge=1)


class SRConfig(_Strict):
    backends: list[str] = Field(default_factory=lambda: ["bicubic"])  # configs/defaults.yaml
    weights: dict[str, Path] = Field(default_factory=dict,
                                     description="backend name -> local weights file")
    ref_policy: Literal["auto", "adjacent", "self"] = "auto"
    eval_ref_policy: Literal["auto", "adjacent", "self"] | None = Field(
        None, description="reference policy at evaluation (null = ref_policy); the paper "
                          "trained DSRNet with adjacent frames and ran it downstream with self")
    train: SRTrainSettings = Field(default_factory=SRTrainSettings)
    train_by_backend: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="backend name -> overrides of sr.train for that "
                                          "backend alone (e.g. a patch size its architecture "
                                          "needs); checked in bench.backends")
    eval: SREvalConfig = Field(default_factory=SREvalConfig)
    distill: DistillSettings = Field(default_factory=DistillSettings)
    task_driven: TaskDrivenSettings = Field(default_factory=TaskDrivenSettings)  # task-driven SR
    hparams: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                              description="backend name -> hparam overrides")
    tile: int | None = Field(None, ge=1, description="LR tile size for SR inference (None = whole)")
    tiny: bool = Field(False, description="use each learned backend's test-size variant (smoke)")


class TaskConfig(_Strict):
    name: str = DEFAULT_TASK
    models: list[str] = Field(default_factory=list, description="task models (the task's own list)")
    protocol: Literal["train-on-hr", "train-per-variant"] = "train-on-hr"
    size: Literal["tiny", "small", "full"] = "small"
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(8, ge=2)
    lr: float = Field(1e-3, gt=0)
    image_size: int = Field(256, ge=16)
    mean_classes: Literal["all", "paper15"] = Field(
        "all", description="classification Mean: every class (all) or the paper's 15 (Tables 7-9: no PB, OS)")
    model_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="model name -> overrides of the fit settings above")


# The one list of executors (bench/executors.py runs them): name -> its runner.
EXECUTORS: Registry = Registry(
    "executor",
    {"local": "bench.executors:_run_local", "ray": "bench.executors:_run_ray"},
    {"local": "units one after another in this process",
     "ray": "each unit a Ray task (needs the optional extra .[ray])"},
)


class ExecutorConfig(_Strict):
    """Where groups of cells run. `ray` needs the optional extra `.[ray]`."""

    name: str = Field("local", description="an executor of bench.config.EXECUTORS")
    address: str | None = Field(None, description="ray: 'auto', HOST:PORT, or null = start a "
                                                  "local cluster for this run")
    num_cpus: int = Field(0, ge=0, description="ray: CPUs per group (0 = the run's threads)")
    num_gpus: float = Field(0.0, ge=0, description="ray: GPUs per group")
    max_retries: int = Field(2, ge=0, description="ray: retries of a group whose worker died")

    @field_validator("name")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value not in EXECUTORS:
            raise ValueError(f"expected one of {', '.join(EXECUTORS.names())}")
        return value


class StatsConfig(_Strict):
    """Bootstrap intervals of the Δ tables (bench/stats, docs/uncertainty.md). Reporting only:
    not part of the run's fingerprint (intervals are recomputed from the store)."""

    bootstrap: int = Field(1000, gt=0, description="B, paired bootstrap resamples of the test images")
    level: float = Field(0.95, gt=0, lt=1, description="interval coverage, in (0, 1)")
    seed: int = Field(0, ge=0, description="seed of the resampling (deterministic)")


class BenchConfig(_Strict):
    profile: str = Field(DEFAULT_PROFILE, description="a configs/profiles/<name>.yaml")
    seeds: list[int] = Field(default_factory=lambda: [0])
    device: str = Field("auto", pattern=DEVICE_PATTERN,
                        description="auto | cpu | cuda | cuda:N | mps")
    threads: int | None = Field(None, ge=1)
    out: Path = Path("results/runs")
    cache_dir: Path | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    degradation: DegradationConfig = Field(default_factory=DegradationConfig)
    sr: SRConfig = Field(default_factory=SRConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in profile_names():
            raise ValueError(f"expected one of {', '.join(profile_names())}")
        return value

    def fingerprint(self, *, exclude: tuple[str, ...] = ("out", "device", "threads",
                                                         "executor", "stats")) -> str:
        data = self.model_dump(mode="json", exclude=set(exclude))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start}); expected "
                          "a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any], source: str = "") -> dict[str, Any]:
    """Deep merge; with `source` (a --set), a value that would replace a whole section is
    refused instead of silently wiping the section (`--set task=5`)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, source)
        elif source and isinstance(value, dict) and key in out and out[key] is not None \
                and not isinstance(out[key], dict):
            raise ConfigError(f"{source}: {key!r} is a value ({out[key]!r}), not a section; "
                              f"set it as {key}=...")
        elif source and isinstance(out.get(key), dict) and out[key] and not isinstance(value, dict):
            raise ConfigError(f"{source}: {key!r} is a section (keys: "
                              f"{', '.join(map(str, out[key]))}); set one of its keys, "
                              f"e.g. {key}.{next(iter(out[key]))}=...")
        else:
            out[key] = value
    return out


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += _known_keys(ann, prefix + name + ".")
    return keys


def parse_override(text: str) -> dict[str, Any]:
    """`a.b=value` -> {"a": {"b": value}}; the value is parsed as YAML (lists, numbers...)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. task.epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw  # e.g. a path with odd characters: keep the text as it is
    return _nested(key.strip(), value)


def _explain(exc: ValidationError, source: str) -> ConfigError:
    known = _known_keys(BenchConfig)
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown config key {key!r}.{did_you_mean(key, known, n=1, cutoff=0.6)}")
        elif err["type"] == "string_pattern_mismatch" and key == "device":
            lines.append(f"config key 'device': expected auto, cpu, cuda, cuda:N or mps "
                         f"(got {err.get('input')!r})")
        else:
            got = err.get("input")
            hint = (f"; write a list in brackets: {key}=[{got}]" if err["type"] == "list_type"
                    and isinstance(got, str) and "," in got else "")
            lines.append(f"config key {key!r}: {err['msg']} (got {got!r}){hint}")
    return ConfigError(f"{source}: " + "; ".join(lines))


def _task_name(direct: dict[str, Any], overrides: list[dict[str, Any]], user: dict[str, Any],
               defaults: dict[str, Any]) -> str:
    """The task decides which configs/tasks/<task>.yaml joins the merge: later sources win."""
    name = (defaults.get("task") or {}).get("name", DEFAULT_TASK)
    for layer in [user, *overrides]:
        task = layer.get("task")
        if isinstance(task, dict) and "name" in task:
            name = task["name"]
    name = direct.get("task.name") or name
    from bench.resolved_task import check_task_name

    return check_task_name(name)


def load_config(profile: str | None = None, config_file: Path | None = None,
                overrides: list[str] | tuple[str, ...] = (), **direct: Any) -> BenchConfig:
    """Merge, then validate once. Later wins: configs/defaults.yaml < configs/tasks/<task>.yaml
    < configs/profiles/<profile>.yaml < the task file's `profiles.<profile>` < --config FILE
    < --set key=value < the command's own options."""
    data = _read_yaml(CONFIG_DIR / "defaults.yaml")
    preset = CONFIG_DIR / "presets" / f"{config_file}.yaml" if config_file else None
    if preset is not None and not Path(config_file).exists() and preset.is_file():
        config_file = preset  # `--config paper-protocol` names a shipped preset
    user = _read_yaml(config_file) if config_file else {}
    parsed = [parse_override(text) for text in overrides]
    for text, over in zip(overrides, parsed):
        if "profile" in over:  # chosen before the merge: a --set would be silently dropped
            raise ConfigError(f"--set {text}: the profile is chosen with --profile (or "
                              "'profile:' in the --config file)")
    profile = check_profile(profile or user.get("profile") or data.get("profile", DEFAULT_PROFILE))
    task = _task_name(direct, parsed, user, data)
    task_file = _read_yaml(CONFIG_DIR / "tasks" / f"{task}.yaml")
    task_profiles = task_file.pop("profiles", {}) or {}
    data = _merge(data, task_file)
    data = _merge(data, _read_yaml(CONFIG_DIR / "profiles" / f"{profile}.yaml"))
    data = _merge(data, task_profiles.get(profile) or {})
    data = _merge(data, user)
    for text, over in zip(overrides, parsed):
        data = _merge(data, over, source=f"--set {text}")
    for key, value in direct.items():
        if value is not None:
            data = _merge(data, _nested(key, value))
    data["profile"] = profile
    source = f"config (profile {profile}" + (f", file {config_file}" if config_file else "") + ")"
    try:
        return BenchConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, source) from None


def _nested(key: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def dump_config(cfg: BenchConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
