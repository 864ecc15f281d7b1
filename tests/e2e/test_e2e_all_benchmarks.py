"""Every benchmark DAG, end to end on the local platform (`airflow dags test`, real mocker + AIPerf), at its
scaled-down local profile. qwen3-32b-kv-routing has its own, fuller test (test_e2e_local.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_e2e_local import processes_mentioning

from featurebench import layout
from featurebench.cli.main import airflow_env, dags_test, ensure_airflow_db, find_run_id
from featurebench.results.store import Store
from featurebench.spec import load_all

OTHERS = sorted(b for b in load_all()[0] if b != "qwen3-32b-kv-routing")


@pytest.mark.parametrize("benchmark", OTHERS)
def test_benchmark_dag_runs_locally(benchmark, tmp_path, monkeypatch, fresh_airflow_db):
    monkeypatch.setenv("FEATUREBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FEATUREBENCH_WORK", str(tmp_path / "work"))
    env = fresh_airflow_db(airflow_env())
    ensure_airflow_db(env)
    when = dt.datetime(2026, 11, 9, 3, 0, tzinfo=dt.UTC)
    proc = dags_test(
        benchmark, when, {"platform": "local"}, env, capture_output=True, text=True, timeout=1200,
    )
    assert not processes_mentioning(str(tmp_path / "work")), "a process of the run outlived it"
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]

    resolved = load_all()[0][benchmark].resolve(when.date())
    spec = resolved.spec
    run_id = layout.safe_run_id(find_run_id(benchmark, when, env))
    store = Store.from_uri(str(tmp_path / "results"))
    prefix = layout.run_prefix(benchmark, when.date().isoformat(), run_id)
    keys = store.list(prefix)
    for arm in spec.arms:
        trials = [k for k in keys if f"/arm={arm.name}/" in k and k.endswith("/requests.parquet")]
        assert len(trials) == spec.local.trials * len(spec.load_points(arm, platform="local")), arm.name
        assert all(store.read_table(k).num_rows > 0 for k in trials)
    report = store.read_text(f"{prefix}/report.md")
    assert "SIMULATION" in report
    if not all(spec.local_arm(a.name).simulated for a in spec.arms):
        assert "NOT SIMULATED" in report, "the report must say the feature's effect is not simulated"
