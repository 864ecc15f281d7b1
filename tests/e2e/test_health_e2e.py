"""Load-generator health on real AIPerf records, through ingestion: a client that lagged is INVALID, a healthy
run is VALID, and the comparison and the report show the invalid trial instead of its numbers."""

from __future__ import annotations

from pathlib import Path

from featurebench.analysis import compare, health
from featurebench.reporting import report
from featurebench.results import records as results
from featurebench.results import summary

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _table(name: str):
    return results.ingest_records(FIXTURES / name / "profile_export.jsonl", goodput=None)


def test_lagging_client_is_invalid_and_healthy_run_is_valid():
    lagging, healthy = _table("aiperf_client_lag"), _table("aiperf")
    valid, reasons = health.trial_health(lagging)
    assert not valid and any("client lag" in r for r in reasons)
    assert summary.summarize_trial(lagging, gpus=1)["credit_to_start_ms_p99"] > health.MAX_CLIENT_LAG_P99_MS
    assert health.trial_health(healthy) == (True, [])


def test_invalid_trial_is_marked_in_comparison_and_report():
    healthy, lagging = _table("aiperf"), _table("aiperf_client_lag")
    tables = {("ctl", "replay", k): healthy for k in range(2)}
    tables |= {("trt", "replay", 0): healthy, ("trt", "replay", 1): lagging}
    result = compare.compare_arms(tables, "ctl", {"ctl": 1, "trt": 1})
    bad = result.validity[~result.validity.valid]
    assert list(zip(bad.arm, bad.trial)) == [("trt", 1)]
    assert set(result.table.n_trials) == {1}  # the lagging trial is not averaged in
    md, _ = report.render_report(result, title="t", question="q", simulated=True, provenance={})
    assert "INVALID" in md and "client lag" in md
