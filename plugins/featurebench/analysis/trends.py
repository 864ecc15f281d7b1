"""History of a benchmark's metrics across runs, read from the results store with DuckDB.

One point per run: the mean over the run's trials of each per-trial summary metric (summary.parquet), per arm
and load point, plus the treatment's gain over the control. The same history feeds the regression check
(featurebench.analysis.regression), the `python -m featurebench trends` CLI and the report's trends section.

The store is read through its pyarrow filesystem (local folder or S3) as one Arrow dataset with Hive partition
columns, which DuckDB queries in place: no DuckDB extension is needed for S3 (httpfs is not always installable).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import dataclass

import pandas as pd

# Parquet metadata keys (results.parquet_metadata) that identify the configuration a run used.
CONFIG_KEYS = ("spec_version", "image_tag", "spec_sha256", "engine_version", "aiperf_version", "trace_sha256",
               "platform", "gpu_type", "simulated")
RUN_COLUMNS = ["date", "run"]

# spec `comparison.primary_metrics` names -> per-trial summary columns (results.summarize_trial)
_LATENCY = {"ttft": "ttft_ms", "itl": "itl_ms", "inter_chunk_latency": "icl_ms", "request_latency": "request_latency_ms"}
_SINGLE = {
    "output_tps": "output_token_throughput_tps",
    "request_rps": "request_throughput_rps",
    "request_throughput": "request_throughput_rps",
    "goodput_rps": "goodput_rps",
    "output_tps_per_gpu": "output_tps_per_gpu",
    "output_tps_per_user_mean": "output_tps_per_user_mean",
}


def summary_column(metric: str) -> str:
    """'ttft_p50' -> 'ttft_ms_p50', 'output_tps' -> 'output_token_throughput_tps'; summary column names pass."""
    if metric in _SINGLE:
        return _SINGLE[metric]
    base, _, stat = metric.rpartition("_")
    if base in _LATENCY:
        return f"{_LATENCY[base]}_{stat}"
    return metric


def lower_is_better(column: str) -> bool:
    """Latencies (ms) and error rates go down when things get better; throughputs and fractions go up."""
    return "_ms_" in column or column.endswith("_ms") or column in ("error_rate", "errors", "cancelled")


@dataclass(frozen=True)
class History:
    """`values`: one row per (date, run, arm, point, metric) with the trial mean `value` and `n_trials`.
    `runs`: one row per run (date, run) with its configuration (CONFIG_KEYS) from the Parquet metadata."""

    values: pd.DataFrame
    runs: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.values.empty


def _partitioning():
    import pyarrow as pa
    import pyarrow.dataset as ds

    fields = [("benchmark", pa.string()), ("date", pa.string()), ("run", pa.string()), ("arm", pa.string()),
              ("point", pa.string()), ("trial", pa.int64())]
    return ds.partitioning(pa.schema(fields), flavor="hive")


def load_history(store, benchmark: str, *, platform: str | None = None, gpu_type: str | None = None,
                 until: str | None = None) -> History:
    """Every stored run of `benchmark` (optionally only one platform / GPU type, only dates <= `until`)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds

    keys = [k for k in store.list(f"benchmark={benchmark}") if k.endswith("/summary.parquet") and "/trial=" in k]
    empty = History(pd.DataFrame(columns=[*RUN_COLUMNS, "arm", "point", "metric", "value", "n_trials"]),
                    pd.DataFrame(columns=[*RUN_COLUMNS, *CONFIG_KEYS]))
    if not keys:
        return empty
    paths = [store._path(k) for k in keys]
    part = _partitioning()
    fragments = list(ds.dataset(paths, filesystem=store.fs, format="parquet", partitioning=part,
                                partition_base_dir=store.root).get_fragments())
    # Union of every file's columns: a metric added later must not vanish because the first file lacks it.
    schema = pa.unify_schemas([f.physical_schema.remove_metadata() for f in fragments] + [part.schema])
    summaries = ds.dataset(paths, schema=schema, filesystem=store.fs, format="parquet", partitioning=part,
                           partition_base_dir=store.root)
    numeric = [f.name for f in schema if (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
               and f.name not in ("trial", "gpus")]
    con = duckdb.connect()
    con.register("summaries", summaries)
    where = "where date <= ?" if until else ""
    means = ", ".join(f'avg("{c}") as "{c}"' for c in numeric)
    wide = con.execute(
        f"select date, run, arm, point, count(*) as n_trials, {means} from summaries {where} "
        "group by all order by date, run, arm, point", [until] if until else [],
    ).df()

    runs = _run_configs(fragments, store.root)
    if until:
        runs = runs[runs["date"] <= until]
    if platform:
        runs = runs[runs["platform"] == platform]
    if gpu_type:
        runs = runs[runs["gpu_type"] == gpu_type]
    wide = wide.merge(runs[RUN_COLUMNS], on=RUN_COLUMNS)
    if wide.empty:
        return empty
    values = wide.melt(id_vars=[*RUN_COLUMNS, "arm", "point", "n_trials"], var_name="metric", value_name="value")
    values = values.dropna(subset=["value"]).sort_values([*RUN_COLUMNS, "arm", "point", "metric"])
    return History(values.reset_index(drop=True), runs.sort_values(RUN_COLUMNS).reset_index(drop=True))


def _run_configs(fragments, root: str) -> pd.DataFrame:
    """One row per run: the configuration its result files carry in their Parquet metadata."""
    rows: dict[tuple[str, str], dict] = {}
    for f in fragments:
        parts = dict(p.split("=", 1) for p in f.path[len(root) + 1:].split("/")[:-1])
        meta = {k.decode(): v.decode() for k, v in (f.physical_schema.metadata or {}).items()}
        row = rows.setdefault((parts["date"], parts["run"]), {"date": parts["date"], "run": parts["run"]})
        for key in CONFIG_KEYS:
            row.setdefault(key, meta.get(f"featurebench.{key}", ""))
    return pd.DataFrame(list(rows.values()), columns=[*RUN_COLUMNS, *CONFIG_KEYS])


def gains(history: History, control: str, treatments: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per run, point, treatment and metric: the treatment's improvement over the control in % (positive =
    better, whichever way the metric points), from the two arms' trial means of that run."""
    v = history.values[history.values["metric"].isin(metrics)]
    ctrl = v[v["arm"] == control][[*RUN_COLUMNS, "point", "metric", "value"]].rename(columns={"value": "control"})
    out = []
    for t in treatments:
        tr = v[v["arm"] == t][[*RUN_COLUMNS, "point", "metric", "value"]].rename(columns={"value": "treatment"})
        both = tr.merge(ctrl, on=[*RUN_COLUMNS, "point", "metric"])
        lower = both["metric"].map(lower_is_better)
        both["gain_pct"] = 100.0 * ((both["control"] / both["treatment"]).where(lower, both["treatment"] / both["control"]) - 1)
        both.insert(2, "treatment_arm", t)
        out.append(both)
    cols = [*RUN_COLUMNS, "treatment_arm", "point", "metric", "treatment", "control", "gain_pct"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


# -------------------------------------------------------------------------------------------- presentation


def trends_tables(history: History, control: str, treatments: list[str], metrics: list[str],
                  arms: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-arm metric history, one row per run x arm x point; gain history, one row per run x treatment x point),
    both with the run's spec version and image tag."""
    cfg = history.runs[[*RUN_COLUMNS, "spec_version", "image_tag"]]
    v = history.values[history.values["metric"].isin(metrics)]
    if arms:
        v = v[v["arm"].isin(arms)]
    per_arm = v.pivot_table(index=[*RUN_COLUMNS, "arm", "point"], columns="metric", values="value").reset_index()
    per_arm = cfg.merge(per_arm, on=RUN_COLUMNS)
    g = gains(history, control, [t for t in treatments if not arms or t in arms], metrics)
    g = g.pivot_table(index=[*RUN_COLUMNS, "treatment_arm", "point"], columns="metric", values="gain_pct")
    g = cfg.merge(g.add_prefix("gain_pct_").reset_index(), on=RUN_COLUMNS)
    return per_arm, g


def _markdown(df: pd.DataFrame, digits: int = 2) -> str:
    if df.empty:
        return "_no runs_"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(f"{x:.{digits}f}" if isinstance(x, float) else str(x) for x in row) + " |")
    return "\n".join(lines)


def trends_section(store, benchmark: str, *, metrics: list[str] | None = None, platform: str | None = None,
                   gpu_type: str | None = None, until: str | None = None, last: int = 12,
                   plot: bool = True) -> tuple[str, bytes | None]:
    """Markdown 'Trends' section for a report (the last `last` runs) and a PNG of the metrics over time
    (None when `plot` is False or there is nothing to draw). The Markdown refers to the PNG as `trends.png`."""
    from featurebench.spec import load_spec

    spec = load_spec(benchmark).latest.spec
    metrics = [summary_column(m) for m in (metrics or spec.comparison.primary_metrics)]
    history = load_history(store, benchmark, platform=platform, gpu_type=gpu_type, until=until)
    if history.empty:
        return "## Trends\n\n_No earlier runs in the results store yet._\n", None
    keep = history.runs.tail(last)[RUN_COLUMNS]
    history = History(history.values.merge(keep, on=RUN_COLUMNS), history.runs.merge(keep, on=RUN_COLUMNS))
    per_arm, gain = trends_tables(history, spec.control.name, [t.name for t in spec.treatments], metrics)
    md = [f"## Trends (last {len(keep)} run(s))", "", "### Per arm", "", _markdown(per_arm), "",
          "### Treatment gain over the control (%, positive = better; for lower-is-better metrics it is control / "
          "treatment - 1, so twice as fast = +100%)", "", _markdown(gain), ""]
    md += _error_section(store, benchmark, history, metrics)
    png = _plot(history, metrics) if plot else None
    if png:
        md += ["![trends](trends.png)", ""]
    return "\n".join(md), png


def _error_section(store, benchmark: str, history: History, metrics: list[str]) -> list[str]:
    """The preflight's error per run (analysis.prediction_error); nothing when no run stored a prediction."""
    from featurebench.analysis.prediction_error import error_table, history_errors

    errors = error_table(history_errors(store, benchmark, history, metrics, summary_column))
    if errors.empty:
        return []
    note = ("Each run's preflight prediction (full-size traffic on the full-size arms) against its measurement. "
            "On hardware this is the simulator's error; a local run measures the scaled-down simulation, so its "
            "ratio tracks the scale-down instead.")
    return ["### Prediction error (measured / predicted, 1.00 = as predicted)", "", note, "", _markdown(errors), ""]


def _plot(history: History, metrics: list[str]) -> bytes | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = history.values[history.values["metric"].isin(metrics)]
    if v.empty:
        return None
    fig, axes = plt.subplots(len(metrics), 1, figsize=(8, 2.4 * len(metrics)), squeeze=False, sharex=True)
    for ax, metric in zip(axes[:, 0], metrics):
        for (arm, point), s in v[v["metric"] == metric].groupby(["arm", "point"]):
            ax.plot(s["date"], s["value"], marker="o", label=f"{arm} {point}")
        ax.set_ylabel(metric, fontsize=8)
        ax.legend(fontsize=7)
    axes[-1, 0].tick_params(axis="x", rotation=45)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def trends_cli(argv: list[str] | None = None) -> int:
    """`python -m featurebench trends <benchmark> [--metric M ...] [--arm A ...] [--format table|json|csv]`."""
    from featurebench.results.store import Store
    from featurebench.settings import results_root
    from featurebench.spec import SpecError, load_spec

    p = argparse.ArgumentParser(prog="python -m featurebench trends", description=trends_cli.__doc__)
    p.add_argument("benchmark")
    p.add_argument("--metric", action="append", help="spec name (ttft_p50) or summary column; default: primary")
    p.add_argument("--arm", action="append", help="only these arms (default: all)")
    p.add_argument("--platform", help="only runs of this platform (local | kubernetes)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--results", default=None, help="results root (default: $FEATUREBENCH_RESULTS or .work/results)")
    args = p.parse_args(argv)
    try:
        spec = load_spec(args.benchmark).latest.spec
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    unknown = [a for a in args.arm or [] if a not in [x.name for x in spec.arms]]
    if unknown:
        print(f"unknown arm(s) {unknown}; {spec.id} has {[a.name for a in spec.arms]}", file=sys.stderr)
        return 2
    metrics = [summary_column(m) for m in (args.metric or spec.comparison.primary_metrics)]
    history = load_history(Store.from_uri(args.results or results_root()), spec.id, platform=args.platform)
    if history.empty:
        print(f"no runs of {spec.id} in the results store", file=sys.stderr)
        return 1
    missing = sorted(set(metrics) - set(history.values["metric"]))
    if missing:
        print(f"metric(s) {missing} not in the stored summaries; available: {sorted(set(history.values['metric']))}",
              file=sys.stderr)
        return 2
    per_arm, gain = trends_tables(history, spec.control.name, [t.name for t in spec.treatments], metrics, args.arm)
    if args.format == "json":
        from featurebench.analysis.prediction_error import history_errors

        store = Store.from_uri(args.results or results_root())
        errors = history_errors(store, spec.id, history, metrics, summary_column)
        if args.arm:
            errors = errors[errors["arm"].isin(args.arm)]
        print(json.dumps({"benchmark": spec.id, "metrics": metrics, "arms": per_arm.to_dict(orient="records"),
                          "gains": gain.to_dict(orient="records"),
                          "prediction_error": errors.to_dict(orient="records")}, indent=2, default=str))
    elif args.format == "csv":
        per_arm.insert(0, "table", "arm")
        gain.insert(0, "table", "gain")
        print(pd.concat([per_arm, gain.rename(columns={"treatment_arm": "arm"})], ignore_index=True).to_csv(index=False),
              end="")
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 50, "display.float_format", "{:.2f}".format):
            print(f"{spec.id}: per arm (trial means)\n{per_arm.to_string(index=False)}\n")
            print(f"treatment gain over {spec.control.name} (%, positive = better)\n{gain.to_string(index=False)}")
    return 0
