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
