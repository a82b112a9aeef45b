"""Time SynthSewer: N HR 448x320 frames with depth and every annotation type.

    python benchmarks/bench_synthsewer.py [--n 1000] [--seed 0]

Frames are rendered as the SR view does (sequences of SEQ_LEN + 1 frames sharing one ray
table), and each frame also gets the Pipe-view annotations (index mask, small components to
ignore, boxes) and the Cls-view multi-label vector, so the figure covers "all annotations".
Nothing is written to disk. Prints frames/s, total seconds and the share spent on setup
(ray casting, per-sequence tables), rendering and annotation.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the generator is single-threaded numpy

import numpy as np  # noqa: E402

from bench.datasets.synth_annot import boxes_from_mask, index_mask, multilabel  # noqa: E402
from bench.datasets.synth_defects import LABEL_CODES, PIPE_CODES, SEWER_ML_CODES  # noqa: E402
from bench.datasets.synth_render import SceneRenderer  # noqa: E402
from bench.datasets.synth_scenes import sample_shot  # noqa: E402
from bench.datasets.synthsewer import CLS_MIN_PIXELS, PIPE_MIN_PIXELS, SEQ_LEN  # noqa: E402


def run(n: int, seed: int) -> dict[str, float]:
    t_render = t_annot = 0.0
    done, seq, n_boxes = 0, 0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    while done < n:
        count = min(SEQ_LEN + 1, n - done)
        rng = np.random.default_rng([seed, seq])
        codes = [str(c) for c in rng.choice(LABEL_CODES, size=int(rng.integers(0, 5)))]
        shot = sample_shot(rng, 448, 320, codes, n_frames=count)
        renderer = SceneRenderer(shot.scene, shot.camera)
        b = time.perf_counter()
        for t in range(count):
            f = renderer.render(shot.camera.z + t * shot.step)
            c = time.perf_counter()
            _, boxes, _ = boxes_from_mask(index_mask(f["label"], list(PIPE_CODES)), 3, PIPE_MIN_PIXELS)
            multilabel(f["label"], list(SEWER_ML_CODES), CLS_MIN_PIXELS)
            n_boxes += len(boxes)
            d = time.perf_counter()
            t_render += c - b
            t_annot += d - c
            b = d
        done += count
        seq += 1
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    t_setup = total - t_render - t_annot  # scene sampling, ray casting, per-sequence tables
    return {"frames": n, "total_s": total, "cpu_s": cpu, "fps": n / total, "setup_s": t_setup,
            "render_s": t_render, "annot_s": t_annot, "boxes": n_boxes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="frames to generate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    r = run(args.n, args.seed)
    print(f"SynthSewer: {r['frames']} frames 448x320 (rgb, depth, label, mask, boxes, labels)")
    print(f"  total {r['total_s']:.2f} s  ->  {r['fps']:.1f} frames/s "
          f"({1000 * r['total_s'] / r['frames']:.1f} ms/frame)")
    print(f"  setup {r['setup_s']:.2f} s | render {r['render_s']:.2f} s | annotations "
          f"{r['annot_s']:.2f} s | {r['boxes']} boxes")
    # On a shared machine wall time includes waiting for a core; CPU time of this process
    # is the estimate of what one quiet core would take.
    print(f"  process CPU time {r['cpu_s']:.2f} s ({1000 * r['cpu_s'] / r['frames']:.1f} ms/frame) | "
          f"load average at end {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
