"""The report's figures as PNG bytes (matplotlib, Agg backend, imported only when a report is drawn)."""

from __future__ import annotations

import io

import numpy as np

from featurebench.analysis.compare import ComparisonResult
from featurebench.analysis.metrics import metric_name


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: figures are only ever saved as PNG
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def plot_distributions(result: ComparisonResult) -> bytes:
    """ECDF of TTFT and ITL per arm and load point (log x: latencies are heavy-tailed)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    arms = [result.control, *result.treatments]
    colors = {arm: f"C{i}" for i, arm in enumerate(arms)}
    points = sorted({p for _, p in result.distributions})
    styles = ["-", "--", ":", "-."]
    for ax, column, label in ((axes[0], "ttft_ms", "TTFT (ms)"), (axes[1], "itl_ms", "ITL per request (ms)")):
        for (arm, point), dist in sorted(result.distributions.items()):
            values = np.sort(dist[column][dist[column] > 0])
            if len(values):
                ax.plot(values, np.arange(1, len(values) + 1) / len(values), color=colors.get(arm, "k"),
                        linestyle=styles[points.index(point) % len(styles)], label=f"{arm} @ {point}")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("fraction of requests")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Latency distributions (all valid trials pooled)")
    return _png(fig)


def plot_pareto(result: ComparisonResult) -> bytes:
    """Throughput per GPU vs tokens/s per user, one frontier per arm."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, arm in enumerate([result.control, *result.treatments]):
        pts = result.pareto[result.pareto.arm == arm]
        if pts.empty:
            continue
        ax.scatter(pts.output_tps_per_user, pts.output_tps_per_gpu, color=f"C{i}", label=arm)
        front = pts[pts.on_frontier].sort_values("output_tps_per_user")
        ax.plot(front.output_tps_per_user, front.output_tps_per_gpu, color=f"C{i}")
        for r in pts.itertuples():
            ax.annotate(r.point, (r.output_tps_per_user, r.output_tps_per_gpu), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("output tokens/s per user")
    ax.set_ylabel("output tokens/s per GPU")
    ax.set_title("Pareto frontier (up and right is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_deltas(result: ComparisonResult) -> bytes:
    """Primary metrics: delta % with its interval, the practical threshold shaded."""
    plt = _pyplot()
    rows = result.table[result.table.primary]
    if rows.empty:
        rows = result.table
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    y = np.arange(len(rows))
    colors = {"better": "tab:green", "worse": "tab:red", "no_change": "tab:gray"}
    t = result.threshold_pct
    ax.axvspan(-t, t, color="0.9", label=f"+-{t:g}% practical threshold")
    ax.axvline(0, color="k", lw=0.8)
    for yi, r in zip(y, rows.itertuples()):
        c = colors[r.verdict]
        if not np.isnan(r.ci_low):
            ax.plot([r.ci_low, r.ci_high], [yi, yi], color=c, lw=2)
        ax.plot([r.delta_pct], [yi], "o", color=c)
    ax.set_yticks(y, [f"{r.treatment} @ {r.point}: {metric_name(r.metric, r.stat)}" for r in rows.itertuples()],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"treatment vs control, % ({result.confidence:.0%} interval)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
