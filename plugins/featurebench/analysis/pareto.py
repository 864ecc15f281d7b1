"""Pareto frontiers of tokens/s per GPU against tokens/s per user, per arm, and which arm's frontier dominates."""

from __future__ import annotations

import numpy as np

from featurebench.analysis.metrics import point_order


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for points no other point beats on both axes (both higher-is-better)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ge = (x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
    gt = (x[None, :] > x[:, None]) | (y[None, :] > y[:, None])
    return ~np.any(ge & gt, axis=1)


def frontier_dominates(ax, ay, bx, by) -> bool:
    """Frontier A dominates frontier B: every point of B is matched or beaten on both axes by a point of A,
    and at least one is strictly beaten."""
    ax, ay, bx, by = (np.asarray(v, float) for v in (ax, ay, bx, by))
    if len(ax) == 0 or len(bx) == 0:
        return False
    ge = (ax[:, None] >= bx[None, :]) & (ay[:, None] >= by[None, :])
    gt = ge & ((ax[:, None] > bx[None, :]) | (ay[:, None] > by[None, :]))
    return bool(np.all(ge.any(axis=0)) and np.any(gt))


def pareto_tables(per_arm, control, treatments):
    """(points with their frontier flags, which frontier dominates per treatment) from the per-trial metrics."""
    import pandas as pd

    rows = []
    for (arm, point), reps in per_arm.items():
        if reps:
            rows.append(dict(
                arm=arm, point=point,
                output_tps_per_user=float(np.nanmean([r[("output_tps_per_user", "mean")] for r in reps])),
                output_tps_per_gpu=float(np.nanmean([r[("output_tps_per_gpu", "value")] for r in reps])),
            ))
    pareto = pd.DataFrame(rows, columns=["arm", "point", "output_tps_per_user", "output_tps_per_gpu"])
    pareto["on_frontier"] = False
    for _arm, group in pareto.groupby("arm"):
        pareto.loc[group.index, "on_frontier"] = pareto_mask(group.output_tps_per_user, group.output_tps_per_gpu)
    pareto = pareto.sort_values(["arm", "point"], key=lambda s: s.map(point_order) if s.name == "point" else s)
    front = pareto[pareto.on_frontier]
    c = front[front.arm == control]
    out = []
    for treatment in treatments:
        t = front[front.arm == treatment]
        out.append(dict(
            treatment=treatment,
            treatment_dominates=frontier_dominates(t.output_tps_per_user, t.output_tps_per_gpu,
                                                   c.output_tps_per_user, c.output_tps_per_gpu),
            control_dominates=frontier_dominates(c.output_tps_per_user, c.output_tps_per_gpu,
                                                 t.output_tps_per_user, t.output_tps_per_gpu),
        ))
    return pareto.reset_index(drop=True), pd.DataFrame(out, columns=["treatment", "treatment_dominates",
                                                                      "control_dominates"])
