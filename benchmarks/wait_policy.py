"""How idle OpenMP threads wait, and what it costs: training-step time per wait setting, as
ratios measured in one run.

A setting is `PASSIVE` / `ACTIVE` (OMP_WAIT_POLICY) or `spin:N` (GOMP_SPINCOUNT=N, policy
unset: spin N times, then sleep; libgomp's own default is 300000). Each measurement is a fresh
process (the runtime reads them when it starts), the settings alternate `--rounds` times, and
the median step time of each is reported. `--contended` runs a 2-thread EDSR training loop in
another process during every measurement: the shared CPU (a study, a test suite beside a run)
that PASSIVE exists for. Run it with nothing else of yours on the machine.

    python benchmarks/wait_policy.py --json results/wait-policy.json
    python benchmarks/wait_policy.py --settings PASSIVE ACTIVE spin:3000 spin:30000 --contended
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


BUSY = r"""
import torch
torch.set_num_threads(2)
from sr_backends import BACKENDS
spec = BACKENDS.get("edsr")
m = spec.build(**{**spec.hparams, "global_skip": True})
x, y = torch.rand(4, 3, 24, 24), torch.rand(4, 3, 96, 96)
while True:
    (m(x) - y).abs().mean().backward()
"""


def setting_env(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if setting.startswith("spin:"):
        env["GOMP_SPINCOUNT"] = setting.split(":", 1)[1]
    else:
        env["OMP_WAIT_POLICY"] = setting
    return {**env, "HF_HUB_OFFLINE": "1"}


def step_time(which: str, setting: str, steps: int, threads: int, contended: bool) -> float:
    code = STEP.format(which=which, steps=steps, threads=threads)
    busy = (subprocess.Popen([sys.executable, "-c", BUSY], env=setting_env("PASSIVE"))
            if contended else None)
    try:
        out = subprocess.run([sys.executable, "-c", code], env=setting_env(setting),
                             capture_output=True, text=True, check=True, timeout=900)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["deeplabv3plus", "edsr"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--settings", nargs="+", default=["PASSIVE", "ACTIVE"],
                    help="PASSIVE, ACTIVE or spin:N; ratios are to the first")
    ap.add_argument("--contended", action="store_true",
                    help="a 2-thread EDSR training loop runs beside every measurement")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    result = {"command": "python benchmarks/wait_policy.py " + " ".join(sys.argv[1:]),
              "threads": args.threads, "steps": args.steps, "rounds": args.rounds,
              "contended": args.contended, "models": {}}
    for which in args.models:
        runs: dict[str, list[float]] = {s: [] for s in args.settings}
        for _ in range(args.rounds):
            for setting in args.settings:
                runs[setting].append(step_time(which, setting, args.steps, args.threads,
                                               args.contended))
        med = {s: statistics.median(v) for s, v in runs.items()}
        first = args.settings[0]
        result["models"][which] = {
            "median_s": {s: round(v, 4) for s, v in med.items()},
            f"over_{first}": {s: round(v / med[first], 3) for s, v in med.items()},
            "runs": runs}
        print(f"{which}: " + ", ".join(f"{s} {v:.3f} s/step ({v / med[first]:.2f}x)"
                                       for s, v in med.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
