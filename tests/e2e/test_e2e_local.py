"""End to end: the real qwen3-32b-kv-routing DAG through `airflow dags test` on the local platform
(real Dynamo frontend + mocker, real AIPerf), with the results root on an S3 endpoint served on loopback."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from featurebench import layout
from featurebench.cli.main import airflow_env, dags_test, ensure_airflow_db, find_run_id
from featurebench.results.store import Store

REPO = Path(__file__).resolve().parents[2]
BENCHMARK = "qwen3-32b-kv-routing"


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line or environment mentions `text` (this run's private folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text.encode() in blob and state != "Z":
            found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:200]!r}")
    return found


@pytest.fixture()
def s3_results(moto_endpoint, tmp_path):
    """A bucket on the loopback moto server, and the environment that points featurebench at it."""
    import boto3

    boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket="fb-e2e")
    return {
        "FEATUREBENCH_RESULTS": "s3://fb-e2e/results",
        "FEATUREBENCH_S3_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "e2e-secret-sentinel",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FEATUREBENCH_WORK": str(tmp_path / "work"),
    }


def test_kv_routing_dag_end_to_end_on_s3(s3_results, monkeypatch, fresh_airflow_db):
    for key, value in s3_results.items():
        monkeypatch.setenv(key, value)
    env = fresh_airflow_db(airflow_env())
    ensure_airflow_db(env)
    when = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
    conf = {"platform": "local", "trials": 2}
    proc = dags_test(
        BENCHMARK, when, conf, env, cwd=REPO, capture_output=True, text=True, timeout=1500,
    )
    log = proc.stdout + proc.stderr
    run_id = layout.safe_run_id(find_run_id(BENCHMARK, when, env) or "run-not-found")
    work = Path(s3_results["FEATUREBENCH_WORK"])
    leftovers = processes_mentioning(str(work))
    assert not leftovers, f"processes of the run still alive: {leftovers}"
    assert proc.returncode == 0, log[-6000:]
    assert "e2e-secret-sentinel" not in log

    store = Store.from_uri(s3_results["FEATUREBENCH_RESULTS"])
    prefix = layout.run_prefix(BENCHMARK, when.date().isoformat(), run_id)
    trace_rows = sum(1 for _ in open(REPO / "include/traces/qwen3-32b-kv-routing/local.jsonl"))
    for arm in ("agg-round-robin", "disagg-kv-router"):
        for trial in (1, 2):
            key = layout.requests_key(BENCHMARK, when.date().isoformat(), run_id, arm, "replay", trial)
            assert store.read_table(key).num_rows == trace_rows, f"{arm} trial {trial}: one row per replayed request"
            assert store.read_metadata(key)
    comparison = store.read_table(f"{prefix}/comparison.parquet").to_pandas()
    assert {"metric", "delta_pct", "verdict"} <= set(comparison.columns)
    assert store.exists(f"{prefix}/report.md") and store.exists(f"{prefix}/report.html")
    for key in store.list(prefix):
        if key.endswith(".parquet"):
            assert b"e2e-secret-sentinel" not in store.read_bytes(key)
