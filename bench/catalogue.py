"""The metric catalogue, assembled at the boundary: the harness's metrics (bench/metrics) plus
every registered task's (`TaskSpec.metrics`). A boundary module: it imports the `tasks`
plug-ins, which the core (bench/metrics) must not (tests/test_layering.py)."""
from __future__ import annotations

from bench.errors import BenchError
from bench.metrics import METRICS, MetricInfo
from bench.registry import did_you_mean


def catalogue() -> dict[str, MetricInfo]:
    """Every metric: the harness's plus those of every registered task."""
    from tasks import TASKS

    out = dict(METRICS)
    for task in TASKS.names():
        for m in TASKS.get(task).metrics:
            out.setdefault(m.name, m)
    return out


def metric_info(name: str) -> MetricInfo:
    known = METRICS if name in METRICS else catalogue()
    if name not in known:
        raise BenchError(f"unknown metric {name!r}.{did_you_mean(name, known)} "
                         f"Known: {', '.join(sorted(known))}")
    return known[name]


def higher_is_better(metric: str) -> bool:
    return metric_info(metric).higher_is_better
