"""Image sizes on the command line: one parser for every "WIDTHxHEIGHT" option.

Users write sizes the way image tools print them, width first ("128x96": 128 wide, 96 high);
code uses (height, width), the order of tensor and array shapes. `parse_size` is the only place
that converts between the two (`bench cost --lr-size`, `bench perf backend --lr-size`,
`cost_report(lr_size="...")`, the scripts in benchmarks/). Torch-free, so the CLI can validate
an option before importing anything heavy.
"""
from __future__ import annotations

import re

from bench.errors import BenchError

_SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")
# The largest LR side an option accepts: the ONNX export's limit (bench/export.py,
# 256 blocks of 16). A reference-based model then gets a 16384 px Ref; one 64-channel
# feature map of a 4096x4096 LR already takes 4 GiB, so larger sizes only exhaust memory.
MAX_SIDE = 4096


def parse_size(text: str, what: str = "size") -> tuple[int, int]:
    """'128x96' (WIDTHxHEIGHT) -> (96, 128), i.e. (height, width); both must be positive.

    `what` names the option in the error message, e.g. "--lr-size".
    """
    m = _SIZE.fullmatch(text) if isinstance(text, str) else None
    if m is None or int(m[1]) <= 0 or int(m[2]) <= 0:
        raise BenchError(f"{what} {text!r}: expected WIDTHxHEIGHT, e.g. 128x96")
    if max(int(m[1]), int(m[2])) > MAX_SIDE:
        raise BenchError(f"{what} {text!r}: at most {MAX_SIDE} pixels per side (one 64-channel "
                         f"feature map of a {MAX_SIDE}x{MAX_SIDE} image already takes 4 GiB)")
    return int(m[2]), int(m[1])


def format_size(hw: tuple[int, int]) -> str:
    """(height, width) -> 'WIDTHxHEIGHT', the inverse of `parse_size`."""
    return f"{int(hw[1])}x{int(hw[0])}"
