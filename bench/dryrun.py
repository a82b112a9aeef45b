"""`bench run --dry-run`: the plan as data (cells, what is cached, what will be trained or
upscaled). Above both `bench.plan` and `bench.execute` (it asks the latter what a group's task
model state is), so neither imports the other's caller."""
from __future__ import annotations

from typing import Any

from bench.cache import Cache
from bench.execute import group_state
from bench.plan import Plan, fit_config, model_settings, open_task_dataset


def describe(plan: Plan, cache: Cache) -> dict[str, Any]:
    """The plan as data for `bench run --dry-run [--json]`: cells, and what is cached."""
    groups = []
    for g in plan.groups:
        state = group_state(plan, g, cache)
        settings = model_settings(plan, g)
        groups.append({"model": g.model, "seed": g.seed, "trained_on": g.trained_on.label,
                       "task_model": state, "fit": vars(fit_config(plan, g)),
                       **({"settings": settings} if settings else {}),
                       "cells": [c.evaluated_on.label for c in g.cells]})
    return {
        "run": plan.run_id, "task": plan.task.name, "dataset": plan.dataset,
        "dataset_fingerprint": plan.dataset_fingerprint, "ref_policy": plan.policy,
        "cells_total": plan.cells_total, "cells_done": len(plan.done),
        "cells_todo": len(plan.todo),
        "todo": [{**vars(c), "trained_on": c.trained_on.label,
                  "evaluated_on": c.evaluated_on.label} for c in plan.todo], "groups": groups,
        "sr_backends": {n: ("weights from " + str(b.weights_file) if b.weights_file else
                            "no weights needed" if not b.trained_by_harness else
                            "cached" if b.has_weights(cache) else "will be trained")
                        for n, b in plan.backends.items()},
        "sr_outputs": _sr_output_state(plan, cache),
    }


def _sr_output_state(plan: Plan, cache: Cache) -> dict[str, Any]:
    """Per SR variant a cell to do evaluates: outputs cached / to compute on the test split."""
    from bench.variants import VariantContext, sr_output_counts

    needed = sorted({c.evaluated_on for c in plan.todo if c.evaluated_on.is_sr},
                    key=lambda v: v.label)
    if not needed:
        return {}
    test = open_task_dataset(plan.cfg).split("test")
    ctx = VariantContext(plan.cfg, cache, plan.device, plan.policy, plan.sr_context,
                         plan.backends)
    out: dict[str, Any] = {}
    for v in needed:
        if not v.resolved.has_weights(cache):
            out[v.label] = {"cached": 0, "to_compute": len(test),
                            "note": "backend not trained yet"}
            continue
        hits = sr_output_counts(test, v, ctx)
        out[v.label] = {"cached": hits, "to_compute": len(test) - hits}
    return out
