"""Trends: the history of a real benchmark's metrics per arm and the treatment's gain, from a Parquet store."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa

from featurebench.analysis.trends import trends_cli, trends_section
from featurebench.results.store import Store

BENCH, CTRL, TREAT = "qwen3-32b-kv-routing", "agg-round-robin", "disagg-kv-router"


def _store(tmp_path) -> Store:
    store = Store.from_uri(str(tmp_path))
    for week in range(3):
        date = (dt.date(2026, 8, 10) + dt.timedelta(weeks=week)).isoformat()
        for arm, ttft in ((CTRL, 900.0), (TREAT, 300.0 + 100 * week)):
            for trial in (1, 2):
                row = {"arm": arm, "point": "replay", "trial": trial, "ttft_ms_p50": ttft + trial, "goodput_rps": 2.0}
                store.write_table(f"benchmark={BENCH}/date={date}/run=scheduled__{date}/arm={arm}/point=replay/"
                                  f"trial={trial}/summary.parquet", pa.Table.from_pylist([row]),
                                  {"featurebench.spec_version": "2026.08", "featurebench.image_tag": "1.3.0",
                                   "featurebench.platform": "local"})
    return store


def test_trends_cli_json_and_gain(tmp_path, capsys):
    _store(tmp_path)
    assert trends_cli([BENCH, "--metric", "ttft_p50", "--results", str(tmp_path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    treat = [r for r in out["arms"] if r["arm"] == TREAT]
    assert [r["ttft_ms_p50"] for r in treat] == [301.5, 401.5, 501.5]  # trial means, oldest first
    gains = [round(r["gain_pct_ttft_ms_p50"], 1) for r in out["gains"]]
    assert gains == [round(100 * (901.5 / t - 1), 1) for t in (301.5, 401.5, 501.5)]  # shrinking TTFT gain
    assert trends_cli([BENCH, "--arm", "nope", "--results", str(tmp_path)]) == 2
    assert trends_cli([BENCH, "--results", str(tmp_path / "empty")]) == 1


def test_trends_section_for_the_report(tmp_path):
    md, png = trends_section(_store(tmp_path), BENCH, metrics=["ttft_p50", "goodput_rps"])
    assert "## Trends (last 3 run(s))" in md and "gain_pct_ttft_ms_p50" in md and "![trends](trends.png)" in md
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def _predict(store, predicted_ttft: dict[str, float]) -> None:
    """prediction.parquet beside each run (as the DAG's predict task writes it), compare's (metric, stat) rows."""
    for week in range(3):
        date = (dt.date(2026, 8, 10) + dt.timedelta(weeks=week)).isoformat()
        rows = [{"arm": arm, "point": "replay", "metric": "ttft", "stat": "p50", "unit": "ms", "value": value}
                for arm, value in predicted_ttft.items()]
        rows.append({"arm": CTRL, "point": "replay", "metric": "goodput_rps", "stat": "value", "unit": "requests/s",
                     "value": 4.0})
        store.write_table(f"benchmark={BENCH}/date={date}/run=scheduled__{date}/prediction.parquet",
                          pa.Table.from_pylist(rows), {"featurebench.prediction_timing": "simulated H200"})


def test_prediction_error_over_time(tmp_path, capsys):
    _predict(_store(tmp_path), {CTRL: 450.75, TREAT: 301.5})
    assert trends_cli([BENCH, "--metric", "ttft_p50", "--metric", "goodput_rps", "--results", str(tmp_path),
                       "--format", "json"]) == 0
    errors = json.loads(capsys.readouterr().out)["prediction_error"]
    treat = [round(r["ratio"], 3) for r in errors if r["arm"] == TREAT and r["metric"] == "ttft_ms_p50"]
    assert treat == [1.0, round(401.5 / 301.5, 3), round(501.5 / 301.5, 3)]  # the treatment drifts from its prediction
    ctrl = {r["metric"]: r["ratio"] for r in errors if r["arm"] == CTRL and r["date"] == "2026-08-10"}
    assert ctrl == {"ttft_ms_p50": 2.0, "goodput_rps": 0.5}  # measured 901.5 vs 450.75; 2.0 vs 4.0 requests/s
    md, _ = trends_section(Store.from_uri(str(tmp_path)), BENCH, metrics=["ttft_p50"], plot=False)
    assert "### Prediction error (measured / predicted" in md and "ratio_ttft_ms_p50" in md and "| 2.00 |" in md


def test_no_prediction_no_error_section(tmp_path):
    md, _ = trends_section(_store(tmp_path), BENCH, metrics=["ttft_p50"], plot=False)
    assert "Prediction error" not in md


def test_a_scaled_down_point_is_set_beside_the_arms_one_prediction():
    import pandas as pd

    from featurebench.analysis.prediction_error import prediction_error
    from featurebench.analysis.trends import History

    run = {"date": "2026-08-10", "run": "r1"}
    measured = pd.DataFrame([{**run, "arm": CTRL, "point": "c2", "metric": "ttft_ms_p50", "value": 30.0,
                              "n_trials": 2}])  # a local run's scaled-down load point
    predicted = pd.DataFrame([{**run, "arm": CTRL, "point": "c16", "metric": "ttft_ms_p50", "predicted": 20.0}])
    errors = prediction_error(History(measured, pd.DataFrame([run])), predicted, ["ttft_ms_p50"])
    assert errors[["point", "measured", "predicted", "ratio"]].values.tolist() == [["c2", 30.0, 20.0, 1.5]]
    two = pd.concat([predicted, predicted.assign(point="c32")])  # two predicted points: no guess is made
    assert prediction_error(History(measured, pd.DataFrame([run])), two, ["ttft_ms_p50"]).empty
