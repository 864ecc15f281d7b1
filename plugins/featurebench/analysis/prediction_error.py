"""Prediction error over time: measured / predicted, per run, arm, load point and metric.

Every run stores its preflight (analysis.predict) as prediction.parquet beside comparison.parquet. DuckDB joins
those files with the run's measurement (the trial means of trends.load_history), so the trends show whether the
simulator drifts away from the hardware week by week. On the local platform the measured side is the
scaled-down mocker run, so there the ratio tracks the scale-down, not the simulator (the report says so).
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["date", "run", "arm", "point", "metric", "measured", "predicted", "ratio"]
PREDICTED = ["date", "run", "arm", "point", "metric", "predicted"]


def load_predictions(store, benchmark: str, to_column) -> pd.DataFrame:
    """Every stored prediction of `benchmark`: one row per (date, run, arm, point, metric), the metric named by
    `to_column` (trends.summary_column: the history's names, ttft_ms_p50, ...) from compare's 'ttft_p50'."""
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds

    from featurebench.analysis.metrics import metric_name

    keys = [k for k in store.list(f"benchmark={benchmark}") if k.endswith("/prediction.parquet")]
    if not keys:
        return pd.DataFrame(columns=PREDICTED)
    part = ds.partitioning(pa.schema([("benchmark", pa.string()), ("date", pa.string()), ("run", pa.string())]),
                           flavor="hive")
    data = ds.dataset([store._path(k) for k in keys], filesystem=store.fs, format="parquet", partitioning=part,
                      partition_base_dir=store.root)
    con = duckdb.connect()
    con.register("predictions", data)
    df = con.execute("select date, run, arm, point, metric, stat, value as predicted from predictions "
                     "where value is not null order by date, run, arm, point").df()
    df["metric"] = [to_column(metric_name(m, s)) for m, s in zip(df["metric"], df["stat"])]
    return df[PREDICTED]


def prediction_error(history, predictions: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """measured / predicted per run, arm, point and metric (summary columns), with DuckDB. A measured point
    whose label the prediction lacks (a local run's scaled-down point) is set beside the arm's prediction when
    the arm has exactly one predicted point."""
    import duckdb

    measured = history.values[history.values["metric"].isin(metrics)][["date", "run", "arm", "point", "metric",
                                                                       "value"]]
    predicted = predictions[predictions["metric"].isin(metrics)]
    if measured.empty or predicted.empty:
        return pd.DataFrame(columns=COLUMNS)
    con = duckdb.connect()
    con.register("m", measured)
    con.register("p", predicted)
    return con.execute("""
        with points as (select distinct date, run, arm, point from p),
             single as (select date, run, arm, any_value(point) as point from points group by all
                        having count(*) = 1),
             mp as (select m.*, coalesce(same.point, single.point) as predicted_point from m
                    left join points same using (date, run, arm, point)
                    left join single on single.date = m.date and single.run = m.run and single.arm = m.arm)
        select mp.date, mp.run, mp.arm, mp.point, mp.metric, mp.value as measured, p.predicted,
               case when p.predicted <> 0 then mp.value / p.predicted end as ratio
        from mp join p on p.date = mp.date and p.run = mp.run and p.arm = mp.arm and p.metric = mp.metric
                      and p.point = mp.predicted_point
        order by mp.date, mp.run, mp.arm, mp.point, mp.metric""").df()[COLUMNS]


def error_table(errors: pd.DataFrame) -> pd.DataFrame:
    """One row per run x arm x point, one `ratio_<metric>` column per metric."""
    if errors.empty:
        return pd.DataFrame(columns=["date", "run", "arm", "point"])
    wide = errors.pivot_table(index=["date", "run", "arm", "point"], columns="metric", values="ratio")
    return wide.add_prefix("ratio_").reset_index()


def history_errors(store, benchmark: str, history, metrics: list[str], to_column) -> pd.DataFrame:
    """prediction_error over the stored predictions of the runs in `history` (trends.History)."""
    keep = history.runs[["date", "run"]]
    predictions = load_predictions(store, benchmark, to_column).merge(keep, on=["date", "run"])
    return prediction_error(history, predictions, metrics)
