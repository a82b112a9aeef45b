"""`SRTrainConfig`: everything that determines an SR training run, validated once.

Budgets are in iterations (optimizer steps), not epochs: SR training samples random patches,
so an "epoch" has no natural meaning, and the cosine schedule is defined over iterations.
`batch_size` is per process; under `torchrun` the effective batch is batch_size x world size,
so `world_size` (the number of ranks) is a setting of its own: part of the weights' identity,
and checked against the ranks torchrun actually started.

Patches (`patch_size`, in LR pixels; the HR patch is the `scale`x region):
- SISR models: random crops of the LR/HR pair.
- Reference-based models: the patch must be a multiple of 16 LR pixels (the matching block
  size). The Ref is a *different* frame (the next one), so there is no exact "corresponding"
  Ref region; the crop takes the same window on the Ref (HR coordinates) as on the HR. The
  next frame sees the same pipe wall magnified around the vanishing point, so a same-window
  crop keeps most of the matching content but not all of it. `patch_size: null` trains on
  whole frames (the paper's setting, section 5.1: LR 112x80, Ref 448x320, batch 1) and is the faithful
  choice for reference-based models.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bench.degrade_config import DegradationConfig
from bench.errors import ConfigError
from bench.registry import did_you_mean
from bench.training.td_config import OBJECTIVES, TaskDrivenTrainConfig, check_choice

# Fields that only change how a run is observed or where it runs, not the weights it
# produces; a resumed run may change them freely (see checkpoint.check_resume_config).
RESUMABLE_FIELDS = frozenset({"val_every", "log_every", "num_workers", "device", "tensorboard"})


class SRTrainSettings(BaseModel):
    """How a learned backend is trained: the `sr.train` section of the harness config.

    The one SR-training schema: `SRTrainConfig` below adds only what the harness fills in
    (backend, hyper-parameters, reference policy, seed, device, degradation). `n_train` /
    `n_val` size a *generated* SR dataset (SynthSewer); the test split's size is an
    evaluation choice (`sr.eval.n_test`) and never part of the weights' identity.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    iterations: int = Field(2000, ge=1, description="optimizer steps in total (schedule length)")
    batch_size: int = Field(16, ge=1, description="patches per step, per process")
    patch_size: int | None = Field(32, ge=4,
                                   description="LR patch side in pixels; null = whole frames")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate at the start")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas")
    weight_decay: float = Field(0.0, ge=0)
    eta_min: float = Field(1e-7, ge=0, description="cosine annealing floor")
    grad_clip: float | None = Field(None, gt=0, description="max gradient L2 norm; null = off")
    augment: bool = Field(True, description="random flips and 90-degree rotations")
    val_every: int = Field(250, ge=1, description="validate + checkpoint every N iterations")
    val_crop: int | None = Field(None, ge=8,
                                 description="centre crop (LR pixels) for validation; null = full")
    log_every: int = Field(10, ge=1, description="CSV/TensorBoard loss row every N iterations")
    amp: Literal["auto"] | bool = Field("auto",
                                        description="mixed precision; auto = on for CUDA only")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    tensorboard: bool = Field(True, description="also write TensorBoard events (if installed)")
    n_train: int = Field(96, ge=1, description="frames of a generated SR dataset's train split")
    n_val: int = Field(8, ge=1, description="frames of a generated SR dataset's val split")
    seed: int | None = Field(None, description="training seed (init, patches, noise); null = "
                                               "data.seed")
    world_size: int = Field(1, ge=1, description="processes that train together (torchrun "
                                                 "ranks, all nodes); each draws its own "
                                                 "batch_size patches per step")
    objective: str = Field("pixel", description="pixel (L1) | task-driven (L1 + λ·TDP against "
                                                "a frozen task model: sr.task_driven)")

    _objective = field_validator("objective")(
        lambda v: check_choice(v, OBJECTIVES, "sr.train.objective"))

    def training_fields(self) -> dict[str, Any]:
        """What the trainer sees (the data sizes are the dataset's business; the seed is
        resolved by the harness)."""
        return self.model_dump(exclude={"n_train", "n_val", "seed"})

    def identity_json(self) -> str:
        """These settings as part of a weights key. An unset seed and a single process are
        left out, so the keys of weights trained before those fields existed stay valid; N
        ranks see N x the patches per step, so their weights get keys of their own."""
        exclude = ({"seed"} if self.seed is None else set()) | \
            ({"world_size"} if self.world_size == 1 else set()) | \
            ({"objective"} if self.objective == "pixel" else set())
        return self.model_dump_json(exclude=exclude or None)


class DistillSettings(BaseModel):
    """How a distilled backend (e.g. dsrnet-d) learns from its teacher: `sr.distill`.

    total = lambda_rec·L1(S, HR) + the student's own auxiliary losses (DSRNet: L_dep)
            + lambda_kd·L1(S, T) + lambda_ad·L_ad (attention feature distillation)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    teacher: str | None = Field(None, description="teacher backend; null = the distilled "
                                                  "backend's default (dsrnet-d: dsrnet-plus)")
    lambda_rec: float = Field(1.0, ge=0, description="weight of L1(student, HR)")
    lambda_kd: float = Field(0.5, ge=0, description="weight of L1(student, teacher output)")
    lambda_ad: float = Field(0.1, ge=0, description="weight of the attention feature loss")
    qk_dim: int = Field(64, ge=1, description="query/key size of the feature attention")

    def objective_settings(self) -> dict[str, Any]:
        return self.model_dump(exclude={"teacher"})


class TeacherConfig(BaseModel):
    """The frozen teacher of a distillation run, as the trainer loads it."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    weights: str = Field(..., description="safetensors file of the teacher")
    weights_sha256: str = Field(..., description="what the weights are (the path is not)")
    hparams: dict[str, Any] = Field(default_factory=dict)


class SRTrainConfig(SRTrainSettings):
    """Everything that determines one SR training run, validated once."""

    backend: str = Field(..., description="SR backend name (a learned one, e.g. 'edsr')")
    hparams: dict[str, Any] = Field(default_factory=dict,
                                    description="overrides of the backend's hyper-parameters")
    tiny: bool = Field(False, description="apply the backend's test-size `tiny` overrides")
    ref_policy: Literal["auto", "adjacent", "self"] = Field(
        "auto", description="reference-based models: adjacent (the sample's next frame), self "
                            "(the bicubic-enlarged LR), auto (adjacent when present)")
    seed: int = Field(0, description="drives init, LR degradation noise, patches, augmentation")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    degradation: DegradationConfig = Field(default_factory=DegradationConfig,
                                           description="HR->LR operator for samples without LR")
    distill: DistillSettings | None = Field(None, description="set: distil `teacher` into "
                                                             "the backend (bench distill)")
    teacher: TeacherConfig | None = None
    task_driven: TaskDrivenTrainConfig | None = None  # set with objective task-driven


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


def _suggest(key: str, model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Did-you-mean over the field names of the (sub)model the unknown key sits in."""
    target: Any = model
    for part in loc[:-1]:
        field = getattr(target, "model_fields", {}).get(part)
        target = getattr(field, "annotation", None) if field else None
        if not (isinstance(target, type) and issubclass(target, BaseModel)):
            return ""
    return did_you_mean(key, target.model_fields)


def load_train_config(data: dict[str, Any]) -> SRTrainConfig:
    """Validate a plain dict (YAML / CLI overrides) into an SRTrainConfig.

    Raises ConfigError whose message names the first offending key, e.g.
    "train-sr: unknown key 'batchsize'. Did you mean 'batch_size'?".
    """
    try:
        return SRTrainConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        key = _key_path(loc)
        if err.get("type") == "extra_forbidden":
            last = str(loc[-1]) if loc else key
            msg = f"train-sr: unknown key {key!r}.{_suggest(last, SRTrainConfig, loc)}"
        elif err.get("type") == "missing":
            msg = f"train-sr: missing required key {key!r}"
        else:
            msg = f"train-sr: bad value for {key!r}: {err.get('msg', 'invalid')}"
        more = len(exc.errors()) - 1
        if more:
            msg += f" (+{more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(msg) from None
