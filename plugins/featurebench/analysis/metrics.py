"""The metrics an A/B comparison reports, and one trial reduced to them.

Every trial is reduced to one number per metric (`trial_metrics`, the same numbers AIPerf prints for that trial);
the statistics (featurebench.analysis.stats) then work on those per-trial numbers, so a million-request trial
costs one pass of percentile selection, never a resampling of its rows.
"""

from __future__ import annotations

import re

import numpy as np

from featurebench.analysis import stats

# (metric, stats, unit, better) in report order. Metric keys match spec `comparison.primary_metrics`
# ("ttft_p50" = metric ttft, stat p50; single-valued metrics use stat "value" and are named by the metric alone).
LATENCY_STATS = ("mean", "p50", "p90", "p99")
METRICS: list[tuple[str, tuple[str, ...], str, str]] = [
    ("ttft", LATENCY_STATS, "ms", "lower"),
    ("itl", LATENCY_STATS, "ms", "lower"),  # per-request average inter-token latency
    ("inter_chunk_latency", LATENCY_STATS, "ms", "lower"),  # every chunk gap, pooled
    ("request_latency", LATENCY_STATS, "ms", "lower"),
    ("output_tps", ("value",), "tokens/s", "higher"),
    ("request_rps", ("value",), "requests/s", "higher"),
    ("goodput_rps", ("value",), "requests/s", "higher"),
    ("output_tps_per_gpu", ("value",), "tokens/s/GPU", "higher"),
    ("output_tps_per_user", ("mean",), "tokens/s/user", "higher"),
]

MIN_SLICE_REQUESTS = 30  # one trial per arm: time slices need this many requests each
N_SLICES = 5


def metric_name(metric: str, stat: str) -> str:
    return metric if stat == "value" else f"{metric}_{stat}"


def point_order(point: str) -> tuple:
    """Sort key of load points: c1, c2, c10 by concurrency, then named points."""
    m = re.fullmatch(r"c(\d+)", point)
    return (0, int(m.group(1)), "") if m else (1, 0, point)


def as_arrow(table):
    """A pandas or pyarrow table as pyarrow."""
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table
    return pa.Table.from_pandas(table, preserve_index=False)


def column_array(table, column: str, dtype=float) -> np.ndarray:
    """One column of a pyarrow table as a numpy array (nulls become NaN)."""
    col = table.column(column)
    return col.to_numpy(zero_copy_only=False).astype(dtype, copy=False) if col.null_count == 0 else np.asarray(
        col.to_pandas(), dtype=dtype
    )


# (metric, stat) -> key of featurebench.results.summary.summarize_trial
_SUMMARY_KEYS = {
    **{(m, st): f"{prefix}_{st}" for m, prefix in (("ttft", "ttft_ms"), ("itl", "itl_ms"),
                                                    ("inter_chunk_latency", "icl_ms"),
                                                    ("request_latency", "request_latency_ms"))
       for st in LATENCY_STATS},
    ("output_tps", "value"): "output_token_throughput_tps",
    ("request_rps", "value"): "request_throughput_rps",
    ("goodput_rps", "value"): "goodput_rps",
    ("output_tps_per_gpu", "value"): "output_tps_per_gpu",
    ("output_tps_per_user", "mean"): "output_tps_per_user_mean",
}


def trial_metrics(table, gpus: int = 1) -> dict[tuple[str, str], float]:
    """One trial (canonical per-request table) -> {(metric, stat): value}, via results.summarize_trial, so the
    numbers compared are the ones ingestion checks against AIPerf's own summary."""
    from featurebench.results.summary import summarize_trial

    table = as_arrow(table)
    summary = summarize_trial(table, gpus=gpus)
    return {key: np.nan if summary.get(name) is None else float(summary[name]) for key, name in _SUMMARY_KEYS.items()}


def slice_metrics(table, gpus: int) -> list[dict]:
    """N_SLICES equal time windows of one trial as pseudo-replicates ([] if a window is too small)."""
    table = as_arrow(table)
    slices = stats.time_slices(column_array(table, "request_start_ns", np.int64), N_SLICES)
    parts = [table.filter(slices == k) for k in range(N_SLICES)]
    if any(p.num_rows < MIN_SLICE_REQUESTS for p in parts):
        return []
    return [trial_metrics(p, gpus) for p in parts]
