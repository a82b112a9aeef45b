"""The learning-rate schedule the task trainers share (segmentation, classification)."""
from __future__ import annotations

import math
from typing import Callable


def warmup_cosine(total: int, max_warmup: int = 50) -> Callable[[int], float]:
    """LambdaLR factor for step s of `total`: a linear warmup (s + 1) / w over the first
    w = max(1, min(max_warmup, total // 20)) steps, then a cosine from 1 down to 0 at `total`."""
    warm = max(1, min(max_warmup, total // 20))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
    return f
