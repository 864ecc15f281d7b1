"""A whole benchmark DAG on the kubernetes platform, through `airflow dags test`, against the HTTP-level fake
Kubernetes API (tests/fake_k8s.py) with results on a loopback S3 endpoint. The fake's load Jobs "produce"
AIPerf artifacts recorded from a real AIPerf run against the Dynamo mocker (tests/fixtures/aiperf/)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from featurebench import layout
from featurebench.cli.main import airflow_env, dags_test, ensure_airflow_db, find_run_id
from featurebench.results.store import Store

REPO = Path(__file__).resolve().parents[2]
BENCHMARK = "qwen3-32b-kv-routing"
RECORDED = REPO / "tests" / "fixtures" / "aiperf"


def _profiled_rows() -> int:
    rows = [json.loads(line) for line in open(RECORDED / "profile_export.jsonl")]
    return sum(1 for r in rows if r["metadata"].get("benchmark_phase", "profiling") == "profiling")


def test_kv_routing_dag_on_kubernetes_leaves_nothing(moto_endpoint, tmp_path, monkeypatch, fresh_airflow_db):
    import boto3
    from fake_k8s import serving

    boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket="fb-k8s")
    results = "s3://fb-k8s/results"
    for key, value in {
        "FEATUREBENCH_RESULTS": results, "FEATUREBENCH_S3_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "k8s-secret-sentinel",
        "AWS_DEFAULT_REGION": "us-east-1", "FEATUREBENCH_WORK": str(tmp_path / "work"),
        "FEATUREBENCH_K8S_POLL_S": "0.1",
    }.items():
        monkeypatch.setenv(key, value)

    when = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)
    with serving() as fake:
        fake.aiperf_uploader(results, RECORDED)
        env = fresh_airflow_db(airflow_env())
        ensure_airflow_db(env)
        proc = dags_test(
            BENCHMARK, when, {"platform": "kubernetes", "trials": 2}, env,
            cwd=REPO, capture_output=True, text=True, timeout=900,
        )
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-6000:]
        created = [r for r in fake.requests if r[0] in ("create", "POST")]
        assert fake.labelled() == [], f"left behind: {fake.labelled()}"
        run_id = layout.safe_run_id(find_run_id(BENCHMARK, when, env))

    assert any("dynamographdeployments" in r[2] for r in created), created
    assert any(r[2] == "jobs" for r in created), "the load ran in the cluster, as Jobs"
    assert "k8s-secret-sentinel" not in log
    deferred = [line for line in log.splitlines() if "Pausing task as DEFERRED" in line]
    assert any("wait_ready" in line for line in deferred), deferred
    assert sum("run_load" in line for line in deferred) >= 4, f"each load trial deferred its wait: {deferred}"

    store = Store.from_uri(results)
    for arm in ("agg-round-robin", "disagg-kv-router"):
        for trial in (1, 2):
            key = layout.requests_key(BENCHMARK, when.date().isoformat(), run_id, arm, "replay", trial)
            assert store.read_table(key).num_rows == _profiled_rows()
            assert store.read_metadata(key)["featurebench.platform"] == "kubernetes"
    prefix = layout.run_prefix(BENCHMARK, when.date().isoformat(), run_id)
    assert store.exists(f"{prefix}/comparison.parquet") and store.exists(f"{prefix}/report.html")
    # the preflight ran on this platform too, before anything was deployed
    prediction = store.read_table(f"{prefix}/prediction.parquet").to_pandas()
    assert set(prediction.arm) == {"agg-round-robin", "disagg-kv-router"} and prediction.value.notna().any()
    started = [line.split("starting task_id=")[1].split()[0] for line in log.splitlines() if "starting task_id=" in line]
    assert started.index("predict") < min(i for i, t in enumerate(started) if t.endswith(".provision")), started
