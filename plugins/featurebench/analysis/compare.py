"""A/B comparison: canonical per-request tables of every arm -> a table of deltas, intervals and verdicts.

The metrics and their per-trial reduction are in featurebench.analysis.metrics, the load-generator health check
in .health, the Pareto frontiers in .pareto; this module puts them together into one ComparisonResult.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featurebench.analysis import stats
from featurebench.analysis.health import FAILED_REQUEST_THRESHOLD, trial_health
from featurebench.analysis.metrics import (
    METRICS,
    as_arrow,
    column_array,
    metric_name,
    point_order,
    slice_metrics,
    trial_metrics,
)
from featurebench.analysis.pareto import pareto_tables
from featurebench.errors import ComparisonInputError

PLOT_SAMPLE = 20_000  # requests kept per arm and point for the distribution plots

COLUMNS = [
    "point", "treatment", "metric", "stat", "unit", "better", "control", "treatment_value", "delta_pct",
    "ci_low", "ci_high", "verdict", "n_trials", "method", "aggregate", "primary",
]
# What the control / treatment values are: the trial's own statistic (one trial; AIPerf's number for it) or the
# mean of the per-trial statistics (several trials). The interval may come from time slices; the values never do.
AGGREGATE_TRIAL = "trial statistic"
AGGREGATE_MEAN = "mean of trial statistics"


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
    points_of = {a: sorted({p for arm, p, _ in tables if arm == a}, key=point_order) for a in arms}
    for t in treatments:
        if not set(points_of[t]) & set(points_of[control]):
            raise ComparisonInputError(f"arm {t!r} ran load points {points_of[t]}, the control {control!r} ran "
                                       f"{points_of[control]}: no load point to compare at")
    # corrupt latencies (negative, infinite, NaN) count as errors here too, whoever wrote the table
    tables = {k: mark_corrupt(as_arrow(t))[0] for k, t in tables.items()}
    by_cell: dict[tuple[str, str], list] = {}
    validity, distributions = [], {}
    rng = np.random.default_rng(0)
    for (arm, point, trial), table in sorted(tables.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        table = as_arrow(table)
        valid, reasons = trial_health(table, (requested_rps or {}).get(point), failed_request_threshold)
        errors = int(table.num_rows - np.count_nonzero(column_array(table, "ok", bool)))
        validity.append(dict(arm=arm, point=point, trial=trial, valid=valid, reasons="; ".join(reasons),
                             requests=table.num_rows, errors=errors))
        if valid:
            by_cell.setdefault((arm, point), []).append(table)
    validity_df = pd.DataFrame(validity, columns=["arm", "point", "trial", "valid", "reasons", "requests", "errors"])

    if keep_distributions:
        for (arm, point), ts in by_cell.items():
            dist = {}
            for column in ("ttft_ms", "itl_ms"):
                values = np.concatenate([column_array(t, column) for t in ts])
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
    points = sorted({point for _, point in ran}, key=point_order)
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
                c_slices = slice_metrics(by_cell[(control, point)][0], gpus.get(control, 1))
                t_slices = slice_metrics(by_cell[(treatment, point)][0], gpus.get(treatment, 1))
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
    pareto, frontier = pareto_tables(per_trial, control, treatments)
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
