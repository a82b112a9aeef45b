"""SR commands: `bench eval-sr`, `bench train-sr`, `bench distill` (`bench cost`:
bench/commands/perf.py)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from bench.commands.common import (ConfigOpt, JsonOpt, OutOpt, ProfileOpt, SetOpt, build_config, show_progress,
                                   emit_json, log, out_console, resolve_device)
from bench.errors import BenchError

BackendOpt = Annotated[list[str], typer.Option("--backend", "-b", help="SR backend (repeatable); `bench ls backends`.")]


def _command_line() -> str:
    return "bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def register(app: typer.Typer) -> None:
    @app.command("eval-sr")
    def eval_sr(
        backend: BackendOpt = None,
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="SR dataset: synthsewer-sr or srfolder.")] = "synthsewer-sr",
        data_root: Annotated[Optional[Path], typer.Option(help="Folder of a real-format dataset.")] = None,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Image quality (PSNR/SSIM on Y and RGB, crop border = scale) of SR backends on the
        test split; appends rows to the result store."""
        from bench.backends import resolve_backends
        from bench.cache import Cache, cache_root
        from bench.datasets import DATASETS, open_dataset
        from bench.console import smoke_note
        from bench.sr_eval import evaluate_sr, preflight, run_dir_for
        from bench.store import ResultStore
        from bench.training.harness import ensure_weights

        cfg = build_config(config, sets, profile, out)
        resolved = resolve_backends(backend or ["bicubic"], cfg)
        DATASETS.check(dataset)
        t = cfg.sr.train
        data = open_dataset(dataset, seed=cfg.data.seed, n_train=t.n_train, n_val=t.n_val,
                            n_test=cfg.sr.eval.n_test, data_root=data_root)
        device = resolve_device(cfg.device)
        cache = Cache(cache_root(cfg.cache_dir))
        ensure_weights(resolved, cfg, cache, device, progress=show_progress(not as_json))
        preflight(cfg, resolved, data, cache, device)  # before the run folder is written
        store = ResultStore(run_dir_for(cfg, "eval-sr", dataset, data.fingerprint()))
        store.write_manifest(cfg.model_dump(mode="json"), device=device, command=_command_line(),
                             extra={"dataset": dataset})
        smoke_note(cfg.profile)
        table = evaluate_sr(cfg, resolved, data, store, cache, device,
                            progress=show_progress(not as_json))
        if as_json:
            from bench.backends import ref_policy_for

            emit_json({"run": store.run_id, "dataset": dataset, "split": "test",
                       "ref_policy": ref_policy_for(list(data.split("test")), cfg),
                       "conventions": "Y = BT.601 luma (16-235); crop border = scale; SSIM 11x11 "
                                      "Gaussian sigma 1.5; LR = antialiased bicubic x4 (torch)",
                       "backends": {b: {k: (int(v) if k == "n_images" else float(v))
                                        for k, v in table.loc[b].items()} for b in table.index}})
            return
        t = Table(title=f"eval-sr on {dataset} (test split) — run {store.run_id}")
        t.add_column("backend")
        for col in table.columns:
            t.add_column(col, justify="right")
        for b, row in table.iterrows():
            t.add_row(b, *(f"{v:.0f}" if c == "n_images" else f"{v:.4f}" for c, v in row.items()))
        out_console.print(t)
        out_console.print("Y = BT.601 luma; crop border = scale; SSIM 11x11 Gaussian σ=1.5.")

    @app.command("train-sr")
    def train_sr_cmd(
        backend: Annotated[str, typer.Option("--backend", "-b", help="Learned backend to train (edsr, rcan, atd, dsrnet...).")],
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="SR dataset: synthsewer-sr or srfolder.")] = "synthsewer-sr",
        data_root: Annotated[Optional[Path], typer.Option(help="Folder of an SR-folder dataset.")] = None,
        resume: Annotated[bool, typer.Option(help="Require and continue an interrupted training (it also resumes by itself).")] = False,
        fresh: Annotated[bool, typer.Option(help="Discard an interrupted training and start over.")] = False,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Train an SR backend (L1, Adam, cosine, random patches with flips/rotations, best
        checkpoint on the validation split). The weights become the backend `bench run` and
        `bench eval-sr` use by name. Several GPUs: `torchrun --nproc_per_node N -m bench.cli
        train-sr ... --set sr.train.world_size=N` (N ranks train other weights: keyed apart)."""
        from bench.backends import resolve_backends
        from bench.datasets import DATASETS

        DATASETS.check(dataset)
        direct = {"data.sr_dataset": dataset,
                  "data.sr_data_root": str(data_root) if data_root else None}
        cfg = build_config(config, sets, profile, out, **direct)
        (resolved,) = resolve_backends([backend], cfg)
        if not resolved.spec.trainable:
            raise BenchError(f"backend {backend!r} has nothing to train")
        if resolved.spec.distill is not None:
            from bench.interrupt import config_flags

            raise BenchError(f"backend {backend!r} is distilled from a teacher: "
                             f"{resolved.train_command()}{config_flags()}")
        device, cache, work = _training_setup(resolved, cfg, resume, fresh, "train-sr")
        log(f"training {backend} on {dataset} ({cfg.sr.train.iterations} iterations, profile "
            f"{cfg.profile}, device {device})")
        _train_and_report(resolved, cfg, cache, device, work, fresh, as_json)

    @app.command("distill")
    def distill_cmd(
        student: Annotated[str, typer.Option("--student", "-s", help="Student architecture (dsrnet-s); the result is its distilled backend (dsrnet-d).")] = "dsrnet-s",
        teacher: Annotated[Optional[str], typer.Option("--teacher", "-t", help="Teacher backend (default: the distilled backend's, dsrnet-plus); trained first if it has no weights. A file: --set sr.weights.TEACHER=FILE.")] = None,
        resume: Annotated[bool, typer.Option(help="Require and continue an interrupted distillation (it also resumes by itself).")] = False,
        fresh: Annotated[bool, typer.Option(help="Discard an interrupted distillation and start over.")] = False,
        config: ConfigOpt = None, sets: SetOpt = None, profile: ProfileOpt = None,
        out: OutOpt = None, as_json: JsonOpt = False,
    ) -> None:
        """Distil a frozen teacher into a student: L1(S, HR) + λ_kd·L1(S, T) + λ_ad·L_ad
        (attention feature distillation over the encoder levels), λ from `sr.distill`
        (1, 0.5, 0.1). Same trainer as train-sr (budget `sr.train`, best on validation,
        resume, AMP on CUDA, torchrun with `sr.train.world_size`). The result is the distilled
        backend (dsrnet-d),
        usable by name everywhere."""
        from bench.backends import resolve_backends
        from bench.training.harness import ensure_weights
        from sr_backends import BACKENDS

        BACKENDS.check(student)
        distilled = [n for n in BACKENDS.names()
                     if getattr(BACKENDS.get(n).distill, "student", None) == student]
        if not distilled:
            students = sorted({BACKENDS.get(n).distill.student for n in BACKENDS.names()
                               if BACKENDS.get(n).distill is not None})
            raise BenchError(f"--student {student}: no distilled backend uses it as student "
                             f"(students: {', '.join(students)})")
        direct = {"sr.distill.teacher": teacher} if teacher else {}
        cfg = build_config(config, sets, profile, out, **direct)
        (resolved,) = resolve_backends(distilled[:1], cfg)
        device, cache, work = _training_setup(resolved, cfg, resume, fresh, "distill")
        ensure_weights([resolved.teacher], cfg, cache, device, progress=show_progress(not as_json))
        log(f"distilling {resolved.teacher.name} -> {resolved.name} (student {student}; λ_rec "
            f"{cfg.sr.distill.lambda_rec}, λ_kd {cfg.sr.distill.lambda_kd}, λ_ad "
            f"{cfg.sr.distill.lambda_ad}; {cfg.sr.train.iterations} iterations, profile "
            f"{cfg.profile}, device {device})")
        _train_and_report(resolved, cfg, cache, device, work, fresh, as_json)


def _training_setup(resolved, cfg, resume: bool, fresh: bool, command: str):
    """(device, cache, training folder) for `command` training `resolved` into the cache."""
    from bench.cache import Cache, cache_root

    if resolved.weights_file is not None:
        raise BenchError(f"sr.weights.{resolved.name} names a weights file: {command} trains "
                         "from scratch into the cache; remove that entry")
    cache = Cache(cache_root(cfg.cache_dir))
    return resolve_device(cfg.device), cache, _work_dir(resolved, cache, resume, fresh)


def _work_dir(resolved, cache, resume: bool, fresh: bool) -> Path:
    stem = resolved.weights_stem(cache)
    work = stem.parent / f"{stem.name}-train"
    if resume and not (work / "last.pt").exists():
        raise BenchError(f"--resume: no interrupted training of {resolved.name!r} for this "
                         f"config (looked for {work / 'last.pt'})")
    if (work / "last.pt").exists() and not fresh:
        log(f"resuming the training in {work}")
    return work


def _train_and_report(resolved, cfg, cache, device: str, work: Path, fresh: bool,
                      as_json: bool) -> None:
    from bench.training.harness import is_main_process, train_backend

    name = resolved.name
    weights = train_backend(resolved, cfg, cache, device, progress=show_progress(not as_json),
                            fresh=fresh)
    if not is_main_process():
        return
    import json as _json

    meta = _json.loads(weights.with_suffix(".json").read_text())
    result = {"backend": name, "weights": str(weights), "train_dir": str(work),
              "best_val_psnr_y": meta.get("val_psnr_y"), "best_iteration": meta.get("iteration"),
              "iterations": cfg.sr.train.iterations, "ref_policy": meta.get("ref_policy"),
              "hparams": meta.get("hparams")}
    if resolved.teacher is not None:
        result["teacher"] = resolved.teacher.name
        result["distill"] = cfg.sr.distill.model_dump(exclude={"teacher"})
    if as_json:
        emit_json(result)
        return
    how = "distilled" if resolved.teacher is not None else "trained"
    hint = ""
    if resolved.teacher is not None and cfg.sr.distill.teacher:
        hint = f" --set sr.distill.teacher={cfg.sr.distill.teacher}"
    out_console.print(f"{how} {name}: best val PSNR-Y {result['best_val_psnr_y']} dB "
                      f"-> {weights}\nuse it: bench eval-sr --backend {name}{hint} "
                      f"(same profile/config)")
