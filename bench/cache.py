"""Content-addressed cache of SR outputs, trained SR weights and task checkpoints.

Root: `cache_dir` from the config, else `$SEWER_BENCH_CACHE`, else `~/.cache/sewer-sr-bench`.
    sr/<backend fp>/<kk>/<key>.npy   one SR output (uint8 HxWx3); key = hash(backend
                                     fingerprint, degradation, dataset, sample, reference)
    weights/<name>-<key>.safetensors trained SR backend weights (+ .json sidecar)
    task/<key>/                      a trained task model (safetensors + sidecar)
    locks/<kind>-<key>.lock          per-key file locks (bench/locks.py): one process trains
                                     a given SR backend or task model, the others wait for it
Every write is atomic, so a kill -9 never leaves a file a later run would trust; the '.tmp-*'
files such a kill leaves are removed by the next run (`remove_stale_temps`).
Hit/miss counters feed the run summary ("the second run trains nothing and upscales nothing").
"""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from bench import atomic
from bench.paths import cache_root  # noqa: F401  (re-exported: bench.cache.cache_root)


def key_of(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:24]


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.stats: Counter[str] = Counter()

    # -- SR outputs -----------------------------------------------------------------------
    def _sr_path(self, backend_fp: str, key: str) -> Path:
        return self.root / "sr" / backend_fp / key[:2] / f"{key}.npy"

    def get_sr(self, backend_fp: str, key: str) -> np.ndarray | None:
        path = self._sr_path(backend_fp, key)
        if path.exists():
            try:
                out = np.load(path, allow_pickle=False)
                self.stats["sr_hit"] += 1
                return out
            except (ValueError, OSError, EOFError):
                path.unlink(missing_ok=True)  # corrupt: recompute
        self.stats["sr_miss"] += 1
        return None

    def has_sr(self, backend_fp: str, key: str) -> bool:
        return self._sr_path(backend_fp, key).exists()

    def put_sr(self, backend_fp: str, key: str, image: np.ndarray) -> None:
        with atomic.atomic_path(self._sr_path(backend_fp, key), suffix=".npy") as tmp:
            np.save(tmp, image, allow_pickle=False)

    # -- trained models -------------------------------------------------------------------
    def weights_stem(self, name: str, key: str) -> Path:
        return self.root / "weights" / f"{name}-{key}"

    def task_dir(self, key: str) -> Path:
        return self.root / "task" / key

    def lock_path(self, kind: str, key: str) -> Path:
        """The lock file of one cache entry (bench/locks.py)."""
        return self.root / "locks" / f"{kind}-{key}.lock"

    def publish_dir(self, final: Path, write, complete=None) -> Path:
        """Create the directory `final` as a whole (bench.atomic.publish_dir): a reader never
        sees a partial directory; when two writers race, the first rename wins and the
        other's copy is discarded (both computed the same content-addressed result); an
        existing but incomplete `final` is replaced."""
        return atomic.publish_dir(final, write, complete or (lambda p: p.is_dir()))

    def remove_stale_temps(self) -> int:
        """Delete temporaries left by writers that were killed (bench.atomic)."""
        return atomic.remove_stale_temps(self.root)

    def count(self, event: str) -> None:
        self.stats[event] += 1
