"""OMP_WAIT_POLICY on a quiet machine: training-step time under PASSIVE (the CLI default,
bench/wait_policy.py) and ACTIVE (OpenMP's spinning default), as a ratio measured in one run.

Each measurement is a fresh process (the policy is read when the OpenMP runtime starts), the
two policies alternate `--rounds` times, and the median step time of each is reported. Run it
with nothing else on the machine: the point of PASSIVE is a *shared* CPU, this measures what it
costs when the CPU is not shared.

    python benchmarks/wait_policy.py --json results/wait-policy.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEP = r"""
import time, torch
torch.set_num_threads({threads})
import segmentation_models_pytorch as smp
from sr_backends import BACKENDS
torch.manual_seed(0)
which = "{which}"
if which == "deeplabv3plus":
    m = smp.DeepLabV3Plus(encoder_name="resnet18", encoder_weights=None, classes=4,
                          decoder_channels=128)
    x, y = torch.rand(8, 3, 256, 256), torch.randint(0, 4, (8, 256, 256))
    loss = lambda: torch.nn.functional.cross_entropy(m(x), y)
else:
    spec = BACKENDS.get("edsr")
    m = spec.build(**{{**spec.hparams, "global_skip": True}})
    x, y = torch.rand(4, 3, 24, 24), torch.rand(4, 3, 96, 96)
    loss = lambda: (m(x) - y).abs().mean()
opt = torch.optim.Adam(m.parameters(), 1e-3)
times = []
for i in range({steps} + 2):
    t0 = time.perf_counter()
    opt.zero_grad(); loss().backward(); opt.step()
    if i >= 2:
        times.append(time.perf_counter() - t0)
times.sort()
print(times[len(times) // 2])
"""


def step_time(which: str, policy: str, steps: int, threads: int) -> float:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "HF_HUB_OFFLINE": "1"}
    code = STEP.format(which=which, steps=steps, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=900)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["deeplabv3plus", "edsr"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    result = {"command": "python benchmarks/wait_policy.py " + " ".join(sys.argv[1:]),
              "threads": args.threads, "steps": args.steps, "rounds": args.rounds, "models": {}}
    for which in args.models:
        runs: dict[str, list[float]] = {"PASSIVE": [], "ACTIVE": []}
        for _ in range(args.rounds):
            for policy in ("PASSIVE", "ACTIVE"):
                runs[policy].append(step_time(which, policy, args.steps, args.threads))
        p, a = statistics.median(runs["PASSIVE"]), statistics.median(runs["ACTIVE"])
        result["models"][which] = {"passive_s": round(p, 4), "active_s": round(a, 4),
                                   "passive_over_active": round(p / a, 3), "runs": runs}
        print(f"{which}: PASSIVE {p:.3f} s/step, ACTIVE {a:.3f} s/step, ratio {p / a:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
