"""Side-by-side crops LR | SR(b) ... | HR for a few test images (the paper's Figures 6, 8).

The crop is centred on the image centre, where the pipe recedes and QV images are coarsest.
SR outputs come from the cache (or are computed with existing weights); nothing is trained.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import atomic
from bench.backends import make_lr, ref_policy_for, resolve_backends, sr_context, upscale_cached
from bench.cache import Cache, cache_root
from bench.config import BenchConfig
from bench.datasets import open_dataset
from bench.degrade import to_tensor, to_uint8, upsample_to


def _crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    size = min(size, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    return img[top:top + size, left:left + size]


def plot_samples(cfg: BenchConfig, backends: list[str], dataset_name: str, n: int, crop: int,
                 out_stem: Path, device: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = cfg.sr.train
    dataset = open_dataset(dataset_name, seed=cfg.data.seed, n_train=t.n_train, n_val=t.n_val,
                           n_test=cfg.sr.eval.n_test, data_root=cfg.data.sr_data_root)
    samples = list(dataset.split("test"))[:n]
    cache = Cache(cache_root(cfg.cache_dir))
    policy = ref_policy_for(samples, cfg)
    context = sr_context(dataset.fingerprint(), cfg, policy)
    models = {b.name: b.create(cache, device, cfg) for b in resolve_backends(backends, cfg)}
    from bench.variants import Variant

    cols = ["LR (bicubic-enlarged)"] + [Variant.sr(b).label for b in backends] + ["HR"]
    fig, axes = plt.subplots(len(samples), len(cols), figsize=(2.2 * len(cols), 2.3 * len(samples)),
                             squeeze=False, dpi=150)
    for i, sample in enumerate(samples):
        lr = make_lr(sample, cfg)
        panels = [to_uint8(upsample_to(to_tensor(lr), sample.hr.shape[:2]))]
        for b, backend in models.items():
            panels.append(upscale_cached(backend, sample, lr, policy, cache, context))
        panels.append(sample.hr)
        for j, (title, img) in enumerate(zip(cols, panels)):
            ax = axes[i][j]
            ax.imshow(_crop(img, crop), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    paths = []
    for suffix in (".png", ".pdf"):
        with atomic.atomic_path(out_stem.with_suffix(suffix), suffix=suffix) as tmp:
            fig.savefig(tmp, format=suffix[1:])
        paths.append(out_stem.with_suffix(suffix))
    plt.close(fig)
    return paths
