"""A/B comparison: canonical per-request tables of every arm -> a table of deltas, intervals and verdicts.

Every trial is first reduced to one number per metric (`trial_metrics`, the same numbers AIPerf prints for that
trial); the statistics (featurebench.analysis.stats) then work on those per-trial numbers, so a million-request trial costs
one pass of percentile selection, never a resampling of its rows.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featurebench.analysis import stats
from featurebench.errors import ComparisonInputError

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

# Load-generator health (MLPerf-style VALID/INVALID). A client that releases requests late changes the load the
# server saw, so the trial measures the client, not the server.
MAX_CLIENT_LAG_P99_MS = 50.0  # credit_to_start p99; AIPerf measured 8 ms healthy, 126 ms near its limit
MAX_RATE_SHORTFALL_PCT = 5.0  # achieved start rate below the issued (or requested) rate
FAILED_REQUEST_THRESHOLD = 0.05  # default of spec comparison.failed_request_threshold (AIPerf's ratio convention)
MIN_SLICE_REQUESTS = 30  # one trial per arm: time slices need this many requests each
N_SLICES = 5
PLOT_SAMPLE = 20_000  # requests kept per arm and point for the distribution plots

COLUMNS = [
    "point", "treatment", "metric", "stat", "unit", "better", "control", "treatment_value", "delta_pct",
    "ci_low", "ci_high", "verdict", "n_trials", "method", "aggregate", "primary",
]
# What the control / treatment values are: the trial's own statistic (one trial; AIPerf's number for it) or the
# mean of the per-trial statistics (several trials). The interval may come from time slices; the values never do.
AGGREGATE_TRIAL = "trial statistic"
AGGREGATE_MEAN = "mean of trial statistics"


def metric_name(metric: str, stat: str) -> str:
    return metric if stat == "value" else f"{metric}_{stat}"


# ------------------------------------------------------------------------------------------- per trial


def _to_arrow(table):
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table
    return pa.Table.from_pandas(table, preserve_index=False)


def _np(table, column: str, dtype=float) -> np.ndarray:
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

    table = _to_arrow(table)
    summary = summarize_trial(table, gpus=gpus)
    return {key: np.nan if summary.get(name) is None else float(summary[name]) for key, name in _SUMMARY_KEYS.items()}


def trial_health(table, requested_rps: float | None = None,
                 failed_request_threshold: float = FAILED_REQUEST_THRESHOLD) -> tuple[bool, list[str]]:
    """VALID/INVALID for one trial, with the reasons it failed.

    INVALID when the client released requests late (credit_to_start p99 above MAX_CLIENT_LAG_P99_MS) or when the
    achieved start rate fell more than MAX_RATE_SHORTFALL_PCT short of the requested rate (or, without one, of the
    rate at which the scheduler issued credits): either way the server saw less load than the point claims. Also
    INVALID when more than `failed_request_threshold` of the requests failed (requests AIPerf itself cancelled at
    the end of a timed run do not count): the survivors of a crashed engine are not its latency.
    """
    table = _to_arrow(table)
    reasons = []
    failed = int(np.count_nonzero(~_np(table, "ok", bool) & ~_np(table, "cancelled", bool)))
    if table.num_rows and failed / table.num_rows > failed_request_threshold:
        reasons.append(f"errors: {failed} of {table.num_rows} requests failed "
                       f"({failed / table.num_rows:.0%} > {failed_request_threshold:.0%})")
    lag = np.maximum(_np(table, "credit_to_start_ms"), 0.0)
    lag = lag[~np.isnan(lag)]
    if len(lag) and (p99 := float(np.percentile(lag, 99))) > MAX_CLIENT_LAG_P99_MS:
        reasons.append(f"client lag: credit_to_start p99 {p99:.0f} ms > {MAX_CLIENT_LAG_P99_MS:g} ms")
    start = _np(table, "request_start_ns", np.int64)
    credit = _np(table, "credit_issued_ns", np.int64)
    # rates need only the first and last timestamps: min/max, not a sort of a million rows
    if len(start) >= 10 and start.max() > start.min():
        achieved = (len(start) - 1) / ((start.max() - start.min()) / 1e9)
        span = credit.max() - credit.min()
        target = requested_rps or ((len(credit) - 1) / (span / 1e9) if span > 0 else None)
        if target and achieved < target * (1 - MAX_RATE_SHORTFALL_PCT / 100):
            reasons.append(f"rate: achieved {achieved:.2f} req/s < requested {target:.2f} req/s")
    return not reasons, reasons


# -------------------------------------------------------------------------------------------- result


@dataclass
class ComparisonResult:
    table: Any  # pandas DataFrame, COLUMNS
    pareto: Any  # DataFrame: arm, point, output_tps_per_user, output_tps_per_gpu, on_frontier
    frontier: Any  # DataFrame: treatment, treatment_dominates, control_dominates
    validity: Any  # DataFrame: arm, point, trial, valid, reasons, requests, errors
    control: str
    treatments: list[str]
    threshold_pct: float
    confidence: float
    distributions: dict = field(default_factory=dict)  # (arm, point) -> {"ttft_ms": array, "itl_ms": array}
    provenance: dict = field(default_factory=dict)  # arm -> Parquet metadata of its first trial

    def overall(self) -> dict[str, str]:
        """Per treatment: better | worse | mixed | no_change, from the primary metrics at every point."""
        out = {}
        for treatment in self.treatments:
            rows = self.table[(self.table.treatment == treatment) & self.table.primary]
            verdicts = set(rows.verdict)
            if {"better", "worse"} <= verdicts:
                out[treatment] = "mixed"
            elif "worse" in verdicts:
                out[treatment] = "worse"
            elif "better" in verdicts:
                out[treatment] = "better"
            else:
                out[treatment] = "no_change"
        return out

    def records(self) -> list[dict]:
        """The table as JSON-ready dicts (NaN -> None)."""
        rows = self.table.astype(object).where(self.table.notna(), None)
        return rows.to_dict(orient="records")


def _point_order(point: str) -> tuple:
    m = re.fullmatch(r"c(\d+)", point)
    return (0, int(m.group(1)), "") if m else (1, 0, point)


def _slices(table, gpus: int) -> list[dict]:
    """N_SLICES equal time windows of one trial as pseudo-replicates ([] if a window is too small)."""
    table = _to_arrow(table)
    slices = stats.time_slices(_np(table, "request_start_ns", np.int64), N_SLICES)
    parts = [table.filter(slices == k) for k in range(N_SLICES)]
    if any(p.num_rows < MIN_SLICE_REQUESTS for p in parts):
        return []
    return [trial_metrics(p, gpus) for p in parts]


OPERATING_POINT = "own"  # the point label when each arm is compared at its own load point


def compare_arms(
    tables: Mapping[tuple[str, str, int], Any],
    control: str,
    gpus: Mapping[str, int],
    threshold_pct: float = 5.0,
    confidence: float = 0.95,
    primary_metrics: list[str] | tuple[str, ...] = (),
    requested_rps: Mapping[str, float] | None = None,
    keep_distributions: bool = True,
    failed_request_threshold: float = FAILED_REQUEST_THRESHOLD,
    operating_points: bool = False,
) -> ComparisonResult:
    """Compare every treatment arm against `control` at every load point both ran.

    `tables` maps (arm, point, trial) to that trial's canonical per-request table (pyarrow or pandas).
    `gpus` is each arm's GPU count (tokens/s per GPU). `requested_rps` (point -> rate) feeds the health check.
    `operating_points` (spec comparison.operating_points): each arm ran one load point of its own, and the arms
    are compared there.
    """
    import pandas as pd

    from featurebench.results.records import mark_corrupt

    if operating_points:
        tables = at_operating_point(tables)
    arms = sorted({k[0] for k in tables})
    if control not in arms:
        raise ComparisonInputError(f"no results for the control arm {control!r}; arms with results: {arms}")
    treatments = [a for a in arms if a != control]
    if not treatments:
        raise ComparisonInputError(f"only the control arm {control!r} has results: nothing to compare it with")
    points_of = {a: sorted({p for arm, p, _ in tables if arm == a}, key=_point_order) for a in arms}
    for t in treatments:
        if not set(points_of[t]) & set(points_of[control]):
            raise ComparisonInputError(f"arm {t!r} ran load points {points_of[t]}, the control {control!r} ran "
                                       f"{points_of[control]}: no load point to compare at")
    # corrupt latencies (negative, infinite, NaN) count as errors here too, whoever wrote the table
    tables = {k: mark_corrupt(_to_arrow(t))[0] for k, t in tables.items()}
    by_cell: dict[tuple[str, str], list] = {}
    validity, distributions = [], {}
    rng = np.random.default_rng(0)
    for (arm, point, trial), table in sorted(tables.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        table = _to_arrow(table)
        valid, reasons = trial_health(table, (requested_rps or {}).get(point), failed_request_threshold)
        errors = int(table.num_rows - np.count_nonzero(_np(table, "ok", bool)))
        validity.append(dict(arm=arm, point=point, trial=trial, valid=valid, reasons="; ".join(reasons),
                             requests=table.num_rows, errors=errors))
        if valid:
            by_cell.setdefault((arm, point), []).append(table)
    validity_df = pd.DataFrame(validity, columns=["arm", "point", "trial", "valid", "reasons", "requests", "errors"])

    if keep_distributions:
        for (arm, point), ts in by_cell.items():
            dist = {}
            for column in ("ttft_ms", "itl_ms"):
                values = np.concatenate([_np(t, column) for t in ts])
                values = values[~np.isnan(values)]
                if len(values) > PLOT_SAMPLE:
                    values = rng.choice(values, PLOT_SAMPLE, replace=False)
                dist[column] = values
            distributions[(arm, point)] = dist

    # every valid trial reduced to its numbers once; the statistics and the Pareto plot work from these
    per_trial = {(arm, point): [trial_metrics(t, gpus.get(arm, 1)) for t in ts] for (arm, point), ts in by_cell.items()}
    primary = set(primary_metrics)
    keys = [(m, s, unit, better) for m, stat_list, unit, better in METRICS for s in stat_list]
    rows = []
    ran = {(arm, point) for arm, point, _ in tables}
    points = sorted({point for _, point in ran}, key=_point_order)
    for treatment in treatments:
        for point in points:
            if (control, point) not in ran or (treatment, point) not in ran:
                continue  # a point only one arm ran (per-arm concurrency lists) has nothing to compare
            c_reps, t_reps = per_trial.get((control, point), []), per_trial.get((treatment, point), [])
            c_values, t_values = _values(c_reps, keys), _values(t_reps, keys)
            n_trials = min(len(c_reps), len(t_reps))
            if n_trials == 0:
                method = "invalid"  # every trial of an arm failed the load-generator health check
            elif n_trials >= 2:
                method = "trials"
            else:  # one trial: time slices of it stand in for trials, if it is long enough
                c_slices = _slices(by_cell[(control, point)][0], gpus.get(control, 1))
                t_slices = _slices(by_cell[(treatment, point)][0], gpus.get(treatment, 1))
                method = "time-slices" if c_slices and t_slices else "none"
                if method == "time-slices":
                    c_reps, t_reps = c_slices, t_slices
            c = np.array([[r[(m, s)] for r in c_reps] or [np.nan] for m, s, _, _ in keys])
            t = np.array([[r[(m, s)] for r in t_reps] or [np.nan] for m, s, _, _ in keys])
            d = stats.ratio_interval(c, t, confidence)  # interval is NaN with fewer than 2 replicates
            betters = np.array([k[3] for k in keys])
            verdicts = stats.verdict(d.ci_low, d.ci_high, betters, threshold_pct)
            with np.errstate(all="ignore"):
                delta = np.where(c_values > 0, (t_values / c_values - 1) * 100, np.nan)
            aggregate = AGGREGATE_TRIAL if n_trials == 1 else AGGREGATE_MEAN if n_trials else ""
            for i, (m, s, unit, better) in enumerate(keys):
                rows.append(dict(
                    point=point, treatment=treatment, metric=m, stat=s, unit=unit, better=better,
                    control=c_values[i], treatment_value=t_values[i], delta_pct=delta[i], ci_low=d.ci_low[i],
                    ci_high=d.ci_high[i], verdict=str(verdicts[i]), n_trials=n_trials, method=method,
                    aggregate=aggregate, primary=metric_name(m, s) in primary or m in primary,
                ))
    table = pd.DataFrame(rows, columns=COLUMNS)
    pareto, frontier = _pareto(per_trial, control, treatments)
    return ComparisonResult(
        table=table, pareto=pareto, frontier=frontier, validity=validity_df, control=control,
        treatments=treatments, threshold_pct=threshold_pct, confidence=confidence, distributions=distributions,
        provenance=run_provenance(tables),
    )


def _values(reps: list[dict], keys) -> np.ndarray:
    """Per metric: the mean over trials of each trial's own statistic (with one trial, that statistic)."""
    values = np.array([[r[(m, s)] for r in reps] or [np.nan] for m, s, _, _ in keys])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (invalid points) stay NaN
        return np.nanmean(values, axis=1)


# ---------------------------------------------------------------------------------------------- Pareto


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


def _pareto(per_arm, control, treatments):
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
    pareto = pareto.sort_values(["arm", "point"], key=lambda s: s.map(_point_order) if s.name == "point" else s)
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


# ------------------------------------------------------------------------------------------ from a store

_TRIAL_KEY = re.compile(r"arm=([^/]+)/point=([^/]+)/trial=(\d+)/requests\.parquet\Z")


def at_operating_point(tables: Mapping[tuple[str, str, int], Any]) -> dict[tuple[str, str, int], Any]:
    """One shared point label for arms that each ran a single load point of their own (Kimi's published page
    compares c8 / c24 / c24 / c32, each arm at its operating point); the arms' own points are in the setup table."""
    points = {}
    for arm, point, _ in tables:
        points.setdefault(arm, set()).add(point)
    several = {a: sorted(p) for a, p in points.items() if len(p) > 1}
    if several:
        raise ComparisonInputError(f"comparison.operating_points needs one load point per arm; {several}")
    if len(set().union(*points.values())) == 1:  # every arm at the same point (a local run): nothing to align
        return dict(tables)
    return {(arm, OPERATING_POINT, trial): t for (arm, _, trial), t in tables.items()}


def compare_run(store, run_prefix: str, resolved_spec, write: bool = True) -> ComparisonResult:
    """Recompute the comparison of one run from the stored per-request Parquet alone; writes comparison.parquet."""
    import pyarrow as pa

    spec = resolved_spec.spec
    tables = {}
    for key in store.list(run_prefix):
        m = _TRIAL_KEY.search(key)
        if m:
            tables[(m.group(1), m.group(2), int(m.group(3)))] = store.read_table(key)
    if not tables:
        raise FileNotFoundError(f"no requests.parquet under {store.uri(run_prefix)}")
    result = compare_arms(
        tables, control=spec.control.name, gpus={a.name: a.gpus for a in spec.arms},
        threshold_pct=spec.comparison.practical_threshold_pct, confidence=spec.comparison.confidence,
        primary_metrics=spec.comparison.primary_metrics,
        failed_request_threshold=spec.comparison.failed_request_threshold,
        operating_points=spec.comparison.operating_points,
    )
    if write:
        meta = {"spec_version": resolved_spec.version.version, "spec_sha256": resolved_spec.source_sha256}
        store.write_table(f"{run_prefix}/comparison.parquet", pa.Table.from_pandas(result.table, preserve_index=False),
                          meta)
        store.write_table(f"{run_prefix}/pareto.parquet", pa.Table.from_pandas(result.pareto, preserve_index=False),
                          meta)
    return result


def run_provenance(tables: Mapping[tuple[str, str, int], Any]) -> dict[str, dict[str, str]]:
    """Parquet metadata of one trial per arm (platform, versions, checksums), decoded to str."""
    out: dict[str, dict[str, str]] = {}
    for (arm, _, _), table in sorted(tables.items()):
        schema_meta = getattr(getattr(table, "schema", None), "metadata", None) or {}
        if arm not in out and schema_meta:
            out[arm] = {k.decode(): v.decode(errors="replace") for k, v in schema_meta.items() if k != b"pandas"}
    return out
