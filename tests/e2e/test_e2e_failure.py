"""A failure in the middle of a run: the arm's teardown still runs, nothing is left running, the next arm never
deploys, and the run is marked failed (no half-result is published)."""

from __future__ import annotations

import datetime as dt

from test_e2e_local import processes_mentioning

from featurebench.cli.main import airflow_env, dags_test, ensure_airflow_db

BENCHMARK = "qwen3-32b-kv-routing"


def test_a_failing_load_still_tears_down(tmp_path, monkeypatch, fresh_airflow_db):
    monkeypatch.setenv("FEATUREBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FEATUREBENCH_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("FEATUREBENCH_AIPERF_BIN", "/bin/false")  # the load generator exits 1 at once
    monkeypatch.setenv("FEATUREBENCH_PREFLIGHT", "off")  # covered by test_e2e_local and test_e2e_kubernetes
    env = fresh_airflow_db(airflow_env())
    ensure_airflow_db(env)
    when = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
    proc = dags_test(
        BENCHMARK, when, {"platform": "local", "trials": 1}, env, capture_output=True, text=True, timeout=900,
    )
    log = proc.stdout + proc.stderr
    assert not processes_mentioning(str(tmp_path / "work")), "the engine outlived the failed run"

    assert "[DAG TEST] end task task_id=arm_agg_round_robin.teardown" in log, "the teardown ran"
    assert "[DAG TEST] starting task_id=arm_disagg_kv_router.provision" not in log, "the next arm never deployed"
    assert "[DAG TEST] starting task_id=publish" not in log, "no result is published from a failed run"
    finished = [line for line in log.splitlines() if "DagRun Finished" in line]
    assert finished and "state=failed" in finished[-1], log[-3000:]
    assert "[DAG TEST] starting task_id=arm_agg_round_robin.run_load" in log, "it did fail where we meant it to"
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("comparison.parquet"))
