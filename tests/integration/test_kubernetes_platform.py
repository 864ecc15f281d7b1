"""The kubernetes platform against the fake API server (tests/fake_k8s.py), through the real kubernetes client
and Airflow's KubernetesHook (an AIRFLOW_CONN_* env connection whose kubeconfig points at the fake).

Every scenario ends with a teardown and checks that ZERO objects carrying our labels are left.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".work" / "airflow-test-home"))

from fake_k8s import FakeKube

from featurebench.layout import artifacts_prefix
from featurebench.platforms.kubernetes import client as k
from featurebench.run import RunContext
from featurebench.spec import load_spec

AIPERF_FIXTURE = REPO / "tests" / "fixtures" / "aiperf_mocker_timeouts"  # a real recorded AIPerf artifact folder
BENCHMARK = "qwen3-32b-kv-routing"
ARM = "agg-round-robin"
POOLS = yaml.safe_load((REPO / "include" / "recipes" / "pools.yaml").read_text())["pools"]


@pytest.fixture
def fake(monkeypatch):
    server = FakeKube(namespace="featurebench").start()
    for key, value in server.connection_env().items():
        monkeypatch.setenv(key, value)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def resolved():
    return load_spec(BENCHMARK).latest


def make_run(tmp_path: Path, run_id: str = "manual__2026-11-26T18-00-00-00-00", root: str | None = None) -> RunContext:
    return RunContext(
        benchmark=BENCHMARK, run_id=run_id, date="2026-11-26", platform="kubernetes", arms=[ARM, "disagg-kv-router"],
        points={ARM: ["replay"], "disagg-kv-router": ["replay"]}, trials=2, spec_version="2026.08",
        spec_sha256="0" * 64, image_tag="1.3.0", gpu_type="H200", results_root=root or str(tmp_path / "results"),
        simulated=False, namespace="featurebench",
    )


def stand_in_render(resolved, arm, run, *, platform="kubernetes"):
    """The shape recipes.render_arm produces for a DGD arm: DGD (GPU workers pinned to the pool), an engine
    ConfigMap, and one AIPerf Job per (point, trial) labelled with both. Labels come from the platform."""
    spec = resolved.spec
    pool = POOLS[spec.hardware.pool]
    a = spec.arm(arm)
    services = {"Frontend": {"componentType": "frontend", "replicas": 1,
                             "extraPodSpec": {"mainContainer": {"image": f"{a.deploy.image}:{run.image_tag}"}}}}
    for w in a.deploy.workers:
        services[w.name] = {
            "componentType": "worker", "replicas": w.replicas,
            "resources": {"limits": {"gpu": str(w.gpus_per_pod)}, "requests": {"gpu": str(w.gpus_per_pod)}},
            "extraPodSpec": {"nodeSelector": pool["node_selector"], "tolerations": pool["tolerations"],
                             "mainContainer": {"image": f"{a.deploy.image}:{run.image_tag}", "args": w.args}},
        }
    name = f"{a.deploy.name}-{hashlib.sha1(run.run_id.encode()).hexdigest()[:8]}"
    out = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-cfg"}, "data": {"x": "1"}},
        {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment", "metadata": {"name": name},
         "spec": {"backendFramework": "vllm", "services": services}},
    ]
    for point in run.points[arm]:
        for trial in range(1, run.trials + 1):
            out.append({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": f"{name}-load-{point}-{trial}", "labels": {k.POINT_LABEL: point, k.TRIAL_LABEL: str(trial)}},
                "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 600, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "aiperf", "image": "python:3.12-slim", "command": ["aiperf", "profile"]}]}}},
            })
    return out


def load_pod_writes_artifacts(fake: FakeKube, run: RunContext, fixture: Path = AIPERF_FIXTURE) -> None:
    """What the AIPerf pod does at the end: upload its artifact folder to the results store."""
    from featurebench.results.store import Store

    def on_complete(job: dict):
        labels = job["metadata"]["labels"]
        if labels.get(k.COMPONENT_LABEL) == "probe":
            return True
        prefix = artifacts_prefix(run.benchmark, run.date, labels[k.RUN_LABEL], labels[k.ARM_LABEL],
                                  labels[k.POINT_LABEL], int(labels[k.TRIAL_LABEL]))
        Store.from_uri(run.results_root).upload_dir(fixture, prefix)
        return True

    fake.on_job_complete = on_complete


def platform(**kw):
    from featurebench.platforms.kubernetes import KubernetesPlatform

    kw.setdefault("render", stand_in_render)
    kw.setdefault("poll_interval", 0.02)
    return KubernetesPlatform(**kw)


def endpoint_with_timeout(endpoint: dict, seconds: float) -> dict:
    return {**endpoint, "ready_timeout_s": seconds}


# --- the whole arm lifecycle -------------------------------------------------------------------------------


@pytest.fixture
def moto_s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in {"FEATUREBENCH_S3_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    import boto3

    boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1").create_bucket(Bucket="fb-results")
    yield "s3://fb-results/featurebench"
    server.stop()


def test_arm_lifecycle_on_s3(fake, resolved, tmp_path, moto_s3):
    from featurebench.results.records import ingest_records

    run = make_run(tmp_path, root=moto_s3)
    load_pod_writes_artifacts(fake, run)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)

    # labelled, in the run's namespace, placed on the pool, load Jobs not yet created
    dgd = fake.find("DynamoGraphDeployment")[0]
    labels = run.labels(ARM)
    assert labels.items() <= dgd["metadata"]["labels"].items() and labels.items() <= dgd["spec"]["labels"].items()
    assert dgd["metadata"]["namespace"] == "featurebench"
    worker = dgd["spec"]["services"]["VllmDecodeWorker"]
    assert worker["extraPodSpec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H200"}
    assert worker["resources"]["limits"]["gpu"] == "2"
    assert fake.find("Job") == []
    pods = fake.find("Pod", k.selector(labels))
    assert len(pods) == 1 + 8, "the operator's pods inherit spec.labels, so teardown can find them"
    assert endpoint["url"] == f"http://{dgd['metadata']['name']}-frontend.featurebench.svc:8000"
    assert endpoint["model"] == "Qwen/Qwen3-32B"
    json.dumps(endpoint)  # XCom-safe

    assert p.wait_ready(run, resolved, ARM, endpoint) == endpoint
    probe = fake.find("Job", f"{k.COMPONENT_LABEL}=probe")[0]
    command = probe["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-3:] == [endpoint["url"], "Qwen/Qwen3-32B", str(p.probe_timeout_s)]

    folder = p.run_load(run, resolved, ARM, endpoint, "replay", 2)
    load = fake.find("Job", f"{k.POINT_LABEL}=replay,{k.TRIAL_LABEL}=2")
    assert len(load) == 1 and labels.items() <= load[0]["spec"]["template"]["metadata"]["labels"].items()
    assert fake.find("Pod", "job-name=" + load[0]["metadata"]["name"]), "the load pod ran in the cluster"
    assert folder.is_relative_to(run.work_dir)
    assert (folder / "profile_export.jsonl").read_bytes() == (AIPERF_FIXTURE / "profile_export.jsonl").read_bytes()
    table = ingest_records(folder / "profile_export.jsonl", goodput=resolved.spec.goodput)
    assert table.num_rows > 0

    removed = p.teardown(run, ARM)
    assert {f"DynamoGraphDeployment/{dgd['metadata']['name']}", f"Job/{probe['metadata']['name']}",
            f"Job/{load[0]['metadata']['name']}", f"ConfigMap/{dgd['metadata']['name']}-cfg"} <= set(removed)
    assert fake.labelled() == []
    assert p.teardown(run, ARM) == [], "a second teardown finds nothing and succeeds"


def test_teardown_deletes_jobs_with_their_pods(fake, resolved, tmp_path):
    """The Job API's default is to orphan pods: only an explicit Background propagation removes them."""
    run = make_run(tmp_path)
    load_pod_writes_artifacts(fake, run)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    p.wait_ready(run, resolved, ARM, endpoint)
    job_pods = fake.find("Pod", "job-name")
    assert job_pods
    deletes = [r for r in fake.requests if r[0] == "delete" and r[2] == "pods"]
    p.teardown(run, ARM)
    assert fake.find("Pod", "job-name") == []
    assert [r for r in fake.requests if r[0] == "delete" and r[2] == "pods"] == deletes, "gone by cascade"
    assert fake.labelled() == []


def test_second_arm_is_untouched_by_first_arms_teardown(fake, resolved, tmp_path):
    run = make_run(tmp_path)
    p = platform()
    p.provision(run, resolved, ARM)
    p.provision(run, resolved, "disagg-kv-router")
    p.teardown(run, ARM)
    left = fake.labelled()
    assert left and all(fake.find(None, f"{k.ARM_LABEL}=disagg-kv-router"))
    assert fake.find(None, f"{k.ARM_LABEL}={ARM}") == []
    p.teardown(run, "disagg-kv-router")
    assert fake.labelled() == []


# --- retries and half-failures -----------------------------------------------------------------------------


def test_provision_twice_creates_nothing_twice(fake, resolved, tmp_path):
    run = make_run(tmp_path)
    p = platform()
    first = p.provision(run, resolved, ARM)
    before = fake.labelled()
    second = p.provision(run, resolved, ARM)  # a retried task
    assert second == first
    assert fake.labelled() == before
    assert len(fake.find("DynamoGraphDeployment")) == 1
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_provision_failing_half_way_then_retry(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    run = make_run(tmp_path)
    p = platform()
    fake.fail("POST", after=1, status=500)  # the second object's create fails once
    with pytest.raises(KubernetesError, match=r"creating DynamoGraphDeployment/\S+ in featurebench failed: 500"):
        p.provision(run, resolved, ARM)
    assert [o.split("/")[0] for o in fake.labelled()] == ["ConfigMap"], "half-provisioned: only the first object"

    endpoint = p.provision(run, resolved, ARM)  # Airflow's retry: the 409 on the ConfigMap is ours, DGD is new
    assert len(fake.find("ConfigMap")) == 1 and len(fake.find("DynamoGraphDeployment")) == 1
    assert endpoint["objects"][0].startswith("ConfigMap/")
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_half_provisioned_arm_is_torn_down(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    run = make_run(tmp_path)
    p = platform()
    fake.fail("POST", after=1, status=503)
    with pytest.raises(KubernetesError):
        p.provision(run, resolved, ARM)
    config_map = fake.find("ConfigMap")[0]["metadata"]["name"]
    assert p.teardown(run, ARM) == [f"ConfigMap/{config_map}"]
    assert fake.labelled() == []


def test_name_taken_by_another_run_is_an_error(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import ForeignObjectError

    run, other = make_run(tmp_path), make_run(tmp_path, run_id="scheduled__2026-11-23T02-00-00-00-00")
    p = platform()
    name = next(m for m in stand_in_render(resolved, ARM, run) if m["kind"] == "DynamoGraphDeployment")["metadata"]["name"]
    fake.put({"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
              "metadata": {"name": name, "namespace": "featurebench", "labels": other.labels(ARM)}, "spec": {}})
    with pytest.raises(ForeignObjectError, match="not ours"):
        p.provision(run, resolved, ARM)
    p.teardown(run, ARM)
    assert [o["metadata"]["name"] for o in fake.find("DynamoGraphDeployment")] == [name], "never delete another run's"
    assert fake.find(None, k.selector({k.RUN_LABEL: run.run_id})) == []


def test_transient_api_errors_while_waiting_are_retried(fake, resolved, tmp_path):
    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    fake.fail("GET", "dynamographdeployments", status=503, times=2)
    p.wait_ready(run, resolved, ARM, endpoint)
    p.teardown(run, ARM)
    assert fake.labelled() == []


# --- failing deployments: fast, clear errors ---------------------------------------------------------------


def test_readiness_timeout(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    fake.never_ready = True
    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    with pytest.raises(KubernetesError) as err:
        p.wait_ready(run, resolved, ARM, endpoint_with_timeout(endpoint, 0.3))
    text = str(err.value)
    assert "not ready after 0.3 s (spec ready_timeout_s)" in text
    assert "Resources not ready" in text
    assert "Warning Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503" in text
    assert fake.find("Job") == [], "no probe or load against an arm that is not ready"
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_crash_looping_worker_fails_fast_with_events_and_logs(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    fake.crash_loop = "VllmDecodeWorker"
    run = make_run(tmp_path)
    p = platform(restart_budget=2)
    endpoint = p.provision(run, resolved, ARM)
    with pytest.raises(KubernetesError) as err:
        p.wait_ready(run, resolved, ARM, endpoint)  # the 1800 s timeout is never reached
    text = str(err.value)
    assert "restarted 3 times (budget 2)" in text and "CrashLoopBackOff" in text
    assert "Back-off restarting failed container main (x3)" in text
    assert "torch.OutOfMemoryError: CUDA out of memory" in text and "(previous run)" in text
    assert sum(1 for r in fake.requests if r == ("get", "nvidia.com", "dynamographdeployments")) == 3
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_image_pull_error_fails_at_once(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    fake.image_pull = "Frontend"
    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    with pytest.raises(KubernetesError, match="ErrImagePull") as err:
        p.wait_ready(run, resolved, ARM, endpoint)
    assert 'Failed to pull image "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.3.0": not found' in str(err.value)
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_dgd_state_failed_is_terminal(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    fake.dgd_fails = True
    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    with pytest.raises(KubernetesError, match="is in state failed: worker VllmDecodeWorker failed"):
        p.wait_ready(run, resolved, ARM, endpoint)
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_failing_load_job_reports_its_logs(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    p.wait_ready(run, resolved, ARM, endpoint)
    fake.on_job_complete = lambda job: False
    with pytest.raises(KubernetesError, match="BackoffLimitExceeded") as err:
        p.run_load(run, resolved, ARM, endpoint, "replay", 1)
    assert "100% of requests failed" in str(err.value)
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_load_job_whose_image_cannot_be_pulled(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    p.wait_ready(run, resolved, ARM, endpoint)
    fake.image_pull = "job"
    with pytest.raises(KubernetesError, match="ImagePullBackOff|ErrImagePull"):
        p.run_load(run, resolved, ARM, endpoint, "replay", 1)
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_load_retry_reruns_the_job_and_refuses_partial_artifacts(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    run = make_run(tmp_path)
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "profile_export.jsonl").write_text("")
    (partial / ".aiperf_results_ready.json").write_text('{"ready": true, "was_cancelled": true, "partial": true}')
    load_pod_writes_artifacts(fake, run, partial)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    p.wait_ready(run, resolved, ARM, endpoint)
    with pytest.raises(KubernetesError, match="not final"):
        p.run_load(run, resolved, ARM, endpoint, "replay", 1)
    load_pod_writes_artifacts(fake, run)  # the retry's pod completes properly
    folder = p.run_load(run, resolved, ARM, endpoint, "replay", 1)
    assert [r for r in fake.requests if r == ("delete", "batch", "jobs")] == [("delete", "batch", "jobs")], (
        "the finished Job with partial artifacts was replaced once")
    assert len(fake.find("Job", f"{k.POINT_LABEL}=replay")) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in AIPERF_FIXTURE.iterdir())
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_load_retry_after_a_lost_worker_reuses_the_finished_job(fake, resolved, tmp_path):
    """The worker died after the Job finished: the retry takes its artifacts, it does not run the load again."""
    run = make_run(tmp_path)
    load_pod_writes_artifacts(fake, run)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    p.wait_ready(run, resolved, ARM, endpoint)
    first = p.run_load(run, resolved, ARM, endpoint, "replay", 1)
    runs = []
    fake.on_job_complete = lambda job: runs.append(job) or True
    again = p.run_load(run, resolved, ARM, endpoint, "replay", 1)
    assert again == first and (again / "profile_export.jsonl").exists()
    assert runs == [] and [r for r in fake.requests if r == ("delete", "batch", "jobs")] == []
    p.teardown(run, ARM)
    assert fake.labelled() == []


# --- deferrable wait ---------------------------------------------------------------------------------------


def test_deferrable_wait_operator_and_trigger(fake, resolved, tmp_path):
    from airflow._shared.module_loading import import_string  # the triggerer's own loader
    from airflow.sdk.exceptions import TaskDeferred

    from featurebench.airflow.operators import WaitArmReadyOperator
    from featurebench.platforms.kubernetes import ArmReadyTrigger

    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    op = WaitArmReadyOperator(task_id="wait_ready", run=run.to_dict(), arm=ARM, endpoint=endpoint)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context={})
    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath == "featurebench.platforms.kubernetes.triggers.ArmReadyTrigger"
    # a run deferred before the package split stored the old path: the triggerer must still find the class
    assert import_string("featurebench.platforms.kubernetes.ArmReadyTrigger") is import_string(classpath)
    text = json.dumps(kwargs)
    assert "kube_config" not in text and fake.url not in text, "a connection id, never credentials"
    trigger = ArmReadyTrigger(**json.loads(text))  # what the triggerer rebuilds
    trigger.poll_interval = 0.02

    async def first_event():
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    assert event["state"] == "ready"
    assert op.execute_complete(context={}, event=event) == endpoint
    assert fake.find("Job", f"{k.COMPONENT_LABEL}=probe"), "the /v1/models probe ran after the trigger fired"
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_wait_operator_waits_synchronously_on_other_platforms(monkeypatch, tmp_path):
    from featurebench.airflow import tasks
    from featurebench.airflow.operators import WaitArmReadyOperator

    calls = []
    monkeypatch.setattr(tasks, "wait_ready", lambda run, arm, endpoint: calls.append((run["platform"], arm)) or endpoint)
    run = {**make_run(tmp_path).to_dict(), "platform": "local"}
    op = WaitArmReadyOperator(task_id="wait_ready", run=run, arm=ARM, endpoint={"url": "http://127.0.0.1:1"})
    assert op.execute(context={}) == {"url": "http://127.0.0.1:1"} and calls == [("local", ARM)]


def test_trigger_reports_a_crash_loop_and_the_operator_raises(fake, resolved, tmp_path):
    from featurebench.airflow.operators import WaitArmReadyOperator
    from featurebench.platforms.kubernetes import KubernetesError

    fake.crash_loop = "*"
    run = make_run(tmp_path)
    p = platform(restart_budget=1)
    endpoint = p.provision(run, resolved, ARM)
    trigger = p.ready_trigger(run, ARM, endpoint)

    async def first_event():
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    assert event["state"] == "failed" and event["bad_pods"]
    op = WaitArmReadyOperator(task_id="w", run=run.to_dict(), arm=ARM, endpoint=endpoint)
    with pytest.raises(KubernetesError, match="CUDA out of memory"):
        op.execute_complete(context={}, event=event)
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_trigger_times_out(fake, resolved, tmp_path):
    fake.never_ready = True
    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    trigger = p.ready_trigger(run, ARM, endpoint_with_timeout(endpoint, 0.2))

    async def first_event():
        async for event in trigger.run():
            return event.payload

    assert asyncio.run(first_event())["state"] == "timeout"
    p.teardown(run, ARM)
    assert fake.labelled() == []


def _first_event(trigger):
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first())


def test_load_job_trigger_reports_a_failing_job_and_the_operator_raises(fake, resolved, tmp_path, monkeypatch):
    from airflow._shared.module_loading import import_string  # the triggerer's own loader
    from airflow.sdk.exceptions import TaskDeferred

    from featurebench.airflow import tasks
    from featurebench.airflow.operators import RunLoadOperator
    from featurebench.platforms.kubernetes import KubernetesError, LoadJobTrigger

    run = make_run(tmp_path)
    monkeypatch.setattr(tasks, "resolved_for", lambda r: resolved)
    monkeypatch.setenv("FEATUREBENCH_K8S_POLL_S", "0.02")
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    p.wait_ready(run, resolved, ARM, endpoint)
    fake.on_job_complete = lambda job: False  # AIPerf exits 1
    op = RunLoadOperator(task_id="run_load", run=run.to_dict(), arm=ARM, endpoint=endpoint,
                         job={"point": "replay", "trial": 1})
    op_platform = platform()
    monkeypatch.setattr("featurebench.platforms.kubernetes.KubernetesPlatform", lambda: op_platform)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context={})
    assert len(fake.find("Job", f"{k.POINT_LABEL}=replay,{k.TRIAL_LABEL}=1")) == 1, "created before deferring"
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "featurebench.platforms.kubernetes.triggers.LoadJobTrigger"
    assert import_string("featurebench.platforms.kubernetes.LoadJobTrigger") is import_string(classpath)
    text = json.dumps(kwargs)
    assert "kube_config" not in text and fake.url not in text, "a connection id, never credentials"
    event = _first_event(LoadJobTrigger(**json.loads(text)))  # what the triggerer rebuilds
    assert event["status"] == "failed" and "BackoffLimitExceeded" in event["message"]
    with pytest.raises(KubernetesError, match="BackoffLimitExceeded") as err:
        op.execute_complete(context={}, event=event, **deferred.value.kwargs)
    assert "100% of requests failed" in str(err.value), "the pod's log lines are in the error"
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_load_job_trigger_times_out_and_the_operator_says_so(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError, LoadJobTrigger

    fake.job_done_after = 10_000
    run = make_run(tmp_path)
    p = platform()
    started = p.start_load(run, resolved, ARM, "replay", 1)
    trigger = p.load_trigger(run.namespace, {**started, "timeout_s": 0.1})
    assert isinstance(trigger, LoadJobTrigger)
    event = _first_event(trigger)
    assert event["status"] == "timeout"
    with pytest.raises(KubernetesError, match="not finished after 1 s"):
        raise p.job_error(run.namespace, started["job"], event, 1)
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_run_load_operator_defers_then_ingests(fake, resolved, tmp_path, monkeypatch):
    from airflow.sdk.exceptions import TaskDeferred

    from featurebench.airflow import tasks
    from featurebench.airflow.operators import RunLoadOperator

    run = make_run(tmp_path)
    load_pod_writes_artifacts(fake, run)
    monkeypatch.setattr(tasks, "resolved_for", lambda r: resolved)
    ingested = []
    monkeypatch.setattr(tasks, "ingest_load", lambda r, arm, job, folder: ingested.append(folder) or {"rows": 1})
    p = platform()
    monkeypatch.setattr("featurebench.platforms.kubernetes.KubernetesPlatform", lambda: p)
    endpoint = p.provision(run, resolved, ARM)
    p.wait_ready(run, resolved, ARM, endpoint)
    op = RunLoadOperator(task_id="run_load", run=run.to_dict(), arm=ARM, endpoint=endpoint,
                         job={"point": "replay", "trial": 1})
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context={})
    event = _first_event(deferred.value.trigger)
    assert event["status"] == "complete"
    assert op.execute_complete(context={}, event=event, **deferred.value.kwargs) == {"rows": 1}
    assert (ingested[0] / "profile_export.jsonl").exists()
    # a retry after the Job finished takes its artifacts without deferring or running the load again
    assert op.execute(context={}) == {"rows": 1} and len(ingested) == 2
    assert [r for r in fake.requests if r == ("delete", "batch", "jobs")] == []
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_run_load_operator_runs_synchronously_on_other_platforms(monkeypatch, tmp_path):
    from featurebench.airflow import tasks
    from featurebench.airflow.operators import RunLoadOperator

    calls = []
    monkeypatch.setattr(tasks, "run_load", lambda run, arm, endpoint, job: calls.append((run["platform"], arm, job)) or {})
    run = {**make_run(tmp_path).to_dict(), "platform": "local"}
    op = RunLoadOperator(task_id="run_load", run=run, arm=ARM, endpoint={}, job={"point": "c2", "trial": 1})
    assert op.execute(context={}) == {} and calls == [("local", ARM, {"point": "c2", "trial": 1})]


# --- janitor -----------------------------------------------------------------------------------------------


def test_janitor_reaps_expired_objects_only(fake, resolved, tmp_path):
    old, new = make_run(tmp_path, run_id="scheduled__2026-11-16T02-00-00-00-00"), make_run(tmp_path)
    p = platform()
    p.provision(old, resolved, ARM)
    p.provision(new, resolved, ARM)
    for obj in fake.find(None, k.selector({k.RUN_LABEL: old.run_id})):
        fake.age(obj["kind"], obj["metadata"]["name"], dt.timedelta(hours=30))
    old_top = {f"{o['kind']}/{o['metadata']['name']}" for o in fake.find(None, k.selector({k.RUN_LABEL: old.run_id}))
               if not o["metadata"].get("ownerReferences")}
    everything = fake.labelled()

    listed = p.janitor(dt.timedelta(hours=24), dry_run=True)
    assert set(listed) == old_top
    assert fake.labelled() == everything, "a dry run deletes nothing"
    assert not [r for r in fake.requests if r[0] == "delete"]

    removed = p.janitor(dt.timedelta(hours=24))
    assert set(removed) == old_top
    assert fake.find(None, k.selector({k.RUN_LABEL: old.run_id})) == []
    assert fake.find("DynamoGraphDeployment", k.selector({k.RUN_LABEL: new.run_id})), "fresh objects stay"
    p.teardown(new, ARM)
    assert fake.labelled() == []


# --- readiness rules on recorded shapes --------------------------------------------------------------------


def test_stale_ready_condition_is_not_ready():
    dgd = {"metadata": {"generation": 2}, "status": {"state": "successful", "observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "True", "observedGeneration": 1}]}}
    assert k.workload_state(dgd, "DynamoGraphDeployment", "x")[0] == "waiting"
    dgd["status"]["conditions"][0]["observedGeneration"] = 2
    assert k.workload_state(dgd, "DynamoGraphDeployment", "x")[0] == "ready"


def test_deployment_rules():
    dep = {"metadata": {"generation": 3}, "spec": {"replicas": 2}, "status": {
        "observedGeneration": 3, "availableReplicas": 2, "conditions": [{"type": "Available", "status": "True"}]}}
    assert k.workload_state(dep, "Deployment", "d")[0] == "ready"
    dep["status"]["availableReplicas"] = 1
    assert k.workload_state(dep, "Deployment", "d")[0] == "waiting"
    dep["status"]["conditions"].append({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"})
    assert k.workload_state(dep, "Deployment", "d")[0] == "failed"


# --- RBAC: the Role grants exactly what the platform uses --------------------------------------------------


def _rbac():
    return list(yaml.safe_load_all((REPO / "include" / "recipes" / "rbac.yaml").read_text()))


def test_rbac_covers_every_request_the_platform_makes(fake, resolved, tmp_path):
    run = make_run(tmp_path)
    load_pod_writes_artifacts(fake, run)
    fake.never_ready = False
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    p.provision(run, resolved, ARM)
    p.wait_ready(run, resolved, ARM, endpoint)
    fake.crash_loop = "*"
    p.run_load(run, resolved, ARM, endpoint, "replay", 1)
    k.describe_pods(p.kube, "featurebench", [fake.find("Pod")[0]["metadata"]["name"]])
    p.teardown(run, ARM)
    p.janitor(dt.timedelta(hours=1), dry_run=True)

    role = next(d for d in _rbac() if d["kind"] == "Role")
    allowed = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    used = set(fake.requests)
    missing = {(g, r, v) for v, g, r in used if (g, r, v) not in allowed}
    assert missing == set()
    # least privilege: no watch/patch/update/escalate; only the kinds the platform can create or read
    assert {v for _, _, v in allowed} <= {"create", "get", "list", "delete"}
    assert {(g, r) for g, r, _ in allowed} == {(g, r) for _, g, r in used}, "a resource granted but never used"
    assert not any("*" in str(rule) or "secrets" in rule["resources"] for rule in role["rules"])


def test_rbac_manifests_are_valid_kubernetes():
    import kubernetes_validate

    docs = _rbac()
    assert {d["kind"] for d in docs} == {"Role", "RoleBinding"}
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33", strict=True)
    binding = next(d for d in docs if d["kind"] == "RoleBinding")
    role = next(d for d in docs if d["kind"] == "Role")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"] == "featurebench"


# --- capacity ----------------------------------------------------------------------------------------------


def test_pool_for_and_pools_json(resolved):
    from featurebench.platforms.kubernetes import KubernetesError, pool_for, pools_json

    assert pool_for(resolved, "H200") == ("gpu_h200", 16)
    assert pool_for(resolved, None, arm=ARM) == ("gpu_h200", 16)
    with pytest.raises(ValueError, match="this benchmark runs on"):
        pool_for(resolved, "B200")
    pools = pools_json()
    assert pools["gpu_h200"] == {"slots": 16, "description": "GPU pool h200 (H200): one slot per GPU", "include_deferred": True}
    assert all(isinstance(v["slots"], int) and v["slots"] > 0 for v in pools.values())
    small = REPO / ".work" / "pools-small.yaml"
    small.parent.mkdir(exist_ok=True)
    small.write_text("pools: {h200: {gpus: 8, gpu_types: [H200]}}\n")
    with pytest.raises(KubernetesError, match="needs 16 GPUs per arm; pool 'h200' has 8"):
        pool_for(resolved, "H200", pools_file=small)


def test_pools_json_cli(tmp_path):
    from featurebench.platforms.kubernetes import main

    out = tmp_path / "pools.json"
    assert main(["pools-json", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["gpu_h100"]["slots"] == 16


def test_labels_too_long_for_kubernetes_are_refused_before_anything_is_created(fake, resolved, tmp_path):
    from featurebench.platforms.kubernetes import KubernetesError

    run = make_run(tmp_path, run_id="manual__" + "x" * 70)
    with pytest.raises(KubernetesError, match="label values"):
        platform().provision(run, resolved, ARM)
    assert fake.requests == []


# --- with the real recipes ---------------------------------------------------------------------------------


def small_images(resolved, **params):
    """The spec with its multimodal trace made tiny (32x32 images, a few rows): full-size ones are GBs. The file
    name matches include/traces/.gitignore's full*; the fixture below removes it."""
    traffic = resolved.spec.traffic
    small = traffic.model_copy(update={"file": traffic.file.replace("full", "full-test-small"),
                                       "params": {**traffic.params, **params}})
    return resolved.model_copy(update={"spec": resolved.spec.model_copy(update={"traffic": small})})


@pytest.fixture
def small_trace_cleanup():
    yield
    from featurebench.spec import TRACES_DIR

    for path in TRACES_DIR.glob("*/full-test-small*"):
        path.unlink()
    for path in TRACES_DIR.glob("*/images/full-test-small*"):
        shutil.rmtree(path)
    for path in TRACES_DIR.glob("*/images"):
        if not any(path.iterdir()):
            path.rmdir()  # only the empty folder our images left


def test_traffic_is_published_once_per_run_with_its_images(tmp_path, small_trace_cleanup):
    from featurebench.layout import traffic_key
    from featurebench.platforms.kubernetes import publish_traffic
    from featurebench.results.store import Store

    resolved = small_images(load_spec("qwen3-6-35b-feature-stack").latest, **SMALL["qwen3-6-35b-feature-stack"])
    run = make_run(tmp_path)
    run = RunContext.from_dict({**run.to_dict(), "benchmark": "qwen3-6-35b-feature-stack"})
    first = publish_traffic(run, resolved)
    key = traffic_key(run.benchmark, run.date, run.run_id, resolved.spec.traffic.file)
    assert first[0] == key and len(first) > 1 and all(k.endswith(".png") for k in first[1:])
    store = Store.from_uri(run.results_root)
    assert all(store.exists(k) for k in first)
    assert publish_traffic(run, resolved) == [key], "a retry or the next arm re-sends only the trace"
    assert publish_traffic(run, load_spec("llama-3-70b-topology").latest) == [], "synthetic traffic: no file"


SMALL = {"qwen3-6-35b-feature-stack": {"users": 2, "turns": 2, "window": 2, "text_tokens": 20,
                                       "image_width": 32, "image_height": 32},
         "qwen3-vl-embedding-cache": {"requests": 6, "pool": 3, "text_tokens": 20, "image_width": 32,
                                      "image_height": 32}}


@pytest.mark.parametrize("benchmark, arm", [
    ("qwen3-32b-kv-routing", "disagg-kv-router"),  # DynamoGraphDeployment
    ("qwen3-6-35b-feature-stack", "vllm-serve"),  # Deployment + Service
    ("deepseek-v3-2-wideep-routing", "disagg-kv-router"),  # ComputeDomain + ConfigMap + multinode DGD
    ("qwen3-vl-embedding-cache", "cache-on"),  # images over http, served by the load pod
])
def test_real_recipes_deploy_placed_and_torn_down(fake, tmp_path, benchmark, arm, small_trace_cleanup):
    from featurebench.platforms.kubernetes import KubernetesPlatform

    resolved = load_spec(benchmark).latest
    if benchmark in SMALL:
        resolved = small_images(resolved, **SMALL[benchmark])
    spec = resolved.spec
    run = RunContext(
        benchmark=benchmark, run_id="scheduled__2026-11-23T02-00-00-00-00", date="2026-11-23", platform="kubernetes",
        arms=[a.name for a in spec.arms], points={a.name: spec.load_points(a) for a in spec.arms}, trials=1,
        spec_version=resolved.version.version, spec_sha256=resolved.source_sha256, image_tag=resolved.version.image_tag,
        gpu_type=spec.hardware.gpu, results_root=str(tmp_path / "results"), simulated=False,
    )
    fake.aiperf_uploader(run.results_root, AIPERF_FIXTURE)  # runs the load image's fb_load with the Job's env
    p = KubernetesPlatform(poll_interval=0.02)  # render = recipes.render_arm
    endpoint = p.provision(run, resolved, arm)
    pool = POOLS[spec.hardware.pool_for(spec.hardware.gpu)]
    created = fake.find(None, k.selector(run.labels(arm)))
    assert created and all(o["metadata"]["namespace"] == "featurebench" for o in created)
    gpu_pods = 0
    for obj in created:
        if obj["kind"] == "DynamoGraphDeployment":
            for comp in obj["spec"]["services"].values():
                if (comp.get("resources") or {}).get("limits", {}).get("gpu"):
                    gpu_pods += 1
                    assert pool["node_selector"].items() <= comp["extraPodSpec"]["nodeSelector"].items()
                    assert all(t in comp["extraPodSpec"]["tolerations"] for t in pool["tolerations"])
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            assert pool["node_selector"].items() <= pod["nodeSelector"].items()
            assert pod["containers"][0]["resources"]["limits"][pool["gpu_resource"]]
            gpu_pods += 1
    assert gpu_pods
    p.wait_ready(run, resolved, arm, endpoint)
    point = run.points[arm][0]
    folder = p.run_load(run, resolved, arm, endpoint, point, 1)
    job = fake.find("Job", f"{k.POINT_LABEL}={point},{k.TRIAL_LABEL}=1")[0]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:4] == ["fb-load", "--", "aiperf", "profile"]
    (pod_run,) = fake.load_runs
    assert pod_run["rc"] == 0 and "FEATUREBENCH_TRACE_URI" in pod_run["env"]
    if benchmark in SMALL:  # the images went with the trace, and AIPerf could open every one
        assert json.loads((folder / "fake-aiperf-seen.json").read_text())["images"] > 0
    assert endpoint["url"] in job["spec"]["template"]["spec"]["containers"][0]["command"], "probe and load: one URL"
    service = endpoint["url"].split("//")[1].split(".")[0]
    assert service in {o["metadata"]["name"] for o in fake.find("Service")}, "the URL names a Service that exists"
    assert (folder / "profile_export.jsonl").exists()
    p.teardown(run, arm)
    assert fake.labelled() == []


# --- the janitor DAG ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def janitor_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "featurebench_janitor.py"))
    assert bag.import_errors == {}
    return bag.dags["featurebench_janitor"]


def test_janitor_dag_shape(janitor_dag):
    assert janitor_dag.timetable.expression in ("@hourly", "0 * * * *")
    assert janitor_dag.params["dry_run"] is False and janitor_dag.params["ttl_hours"] == 24
    params = copy.deepcopy(janitor_dag.params)
    params.update({"ttl_hours": 0, "dry_run": True})  # 0 is allowed: reap everything
    assert params.validate()["ttl_hours"] == 0
    assert set(janitor_dag.task_ids) == {"reap_kubernetes", "reap_local"}
    assert janitor_dag.max_active_runs == 1 and not janitor_dag.catchup


def test_janitor_dag_reaps_the_cluster(janitor_dag, fake, resolved, tmp_path):
    old = make_run(tmp_path, run_id="scheduled__2026-11-16T02-00-00-00-00")
    platform().provision(old, resolved, ARM)
    for obj in fake.find(None, k.RUN_LABEL):
        fake.age(obj["kind"], obj["metadata"]["name"], dt.timedelta(hours=5))
    reap = janitor_dag.get_task("reap_kubernetes").python_callable
    assert reap(params={"dry_run": True, "ttl_hours": 2}) and fake.labelled()
    assert reap(params={"dry_run": False, "ttl_hours": 6}) == [] and fake.labelled()
    assert reap(params={"dry_run": False, "ttl_hours": 2})
    assert fake.labelled() == []


def test_janitor_dag_skips_without_a_cluster(janitor_dag, monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowSkipException

    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(AirflowSkipException, match="no Kubernetes cluster configured"):
        janitor_dag.get_task("reap_kubernetes").python_callable(params={"dry_run": True, "ttl_hours": 24})


def test_janitor_dag_local_part(janitor_dag, monkeypatch, tmp_path):
    monkeypatch.setenv("FEATUREBENCH_WORK", str(tmp_path))
    reap = janitor_dag.get_task("reap_local").python_callable
    assert reap(params={"dry_run": False, "ttl_hours": 24}) == []


# --- the fake itself answers like the API server ------------------------------------------------------------


def test_fake_speaks_the_api_through_the_real_client(fake):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api_client = k.Kube().api_client  # via the Airflow connection in the env
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    body = {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
            "metadata": {"name": "d1", "labels": {"a": "1"}}, "spec": {"services": {}}}
    created = custom.create_namespaced_custom_object("nvidia.com", "v1alpha1", "featurebench", "dynamographdeployments", body)
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    with pytest.raises(ApiException) as dup:
        custom.create_namespaced_custom_object("nvidia.com", "v1alpha1", "featurebench", "dynamographdeployments", body)
    status = json.loads(dup.value.body)
    assert dup.value.status == 409 and status["kind"] == "Status" and status["reason"] == "AlreadyExists"
    assert status["details"] == {"name": "d1", "group": "nvidia.com", "kind": "dynamographdeployments"}

    patched = custom.patch_namespaced_custom_object("nvidia.com", "v1alpha1", "featurebench", "dynamographdeployments",
                                                    "d1", {"spec": {"backendFramework": "vllm"}})
    assert patched["metadata"]["generation"] == 2, "a spec change bumps the generation"
    custom.patch_namespaced_custom_object_status("nvidia.com", "v1alpha1", "featurebench", "dynamographdeployments",
                                                 "d1", {"status": {"state": "successful"}})
    listed = custom.list_namespaced_custom_object("nvidia.com", "v1alpha1", "featurebench", "dynamographdeployments",
                                                  label_selector="a=1")
    assert listed["kind"] == "DynamoGraphDeploymentList" and listed["items"][0]["status"]["state"] == "successful"
    assert custom.list_namespaced_custom_object("nvidia.com", "v1alpha1", "featurebench", "dynamographdeployments",
                                                label_selector="a!=1")["items"] == []

    pods = core.list_namespaced_pod("featurebench", label_selector="nvidia.com/dynamo-graph-deployment-name=d1")
    assert pods.items == []  # no services, no pods
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("nope", "featurebench")
    assert gone.value.status == 404 and json.loads(gone.value.body)["message"] == 'configmaps "nope" not found'

    fake.fail("GET", "configmaps", status=503)
    with pytest.raises(ApiException) as flaky:
        core.list_namespaced_config_map("featurebench")
    assert flaky.value.status == 503
    assert core.list_namespaced_config_map("featurebench").items == [], "5xx once, then OK"

    custom.delete_namespaced_custom_object("nvidia.com", "v1alpha1", "featurebench", "dynamographdeployments", "d1")
    assert fake.find("DynamoGraphDeployment") == [] and fake.find("Service") == [], "the frontend Service went with it"


def test_real_airflow_defers_the_wait_to_the_trigger(fake, resolved, tmp_path, migrated_airflow_db):
    """`airflow dags test` runs the real deferral machinery (serialise the trigger, run it, resume the task)."""
    import subprocess
    import sys

    run = make_run(tmp_path)
    p = platform()
    endpoint = p.provision(run, resolved, ARM)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "defer_wait.py").write_text(
        "import datetime as dt, json, os\n"
        "from airflow.sdk import DAG\n"
        "from featurebench.airflow.operators import WaitArmReadyOperator\n"
        "with DAG('defer_wait', schedule=None, start_date=dt.datetime(2026, 1, 1)):\n"
        f"    WaitArmReadyOperator(task_id='wait_ready', arm={ARM!r}, run=json.loads(os.environ['T_RUN']),\n"
        "                         endpoint=json.loads(os.environ['T_ENDPOINT']))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONPATH": str(REPO / "plugins"),
           "FEATUREBENCH_K8S_POLL_S": "0.1", "T_RUN": json.dumps(run.to_dict()), "T_ENDPOINT": json.dumps(endpoint)}
    airflow = [sys.executable, "-m", "airflow"]
    migrated_airflow_db.seed(env["AIRFLOW_HOME"])
    try:  # a bound, not a timing: on a shared 2-core machine Airflow's start alone has taken 4 minutes
        result = subprocess.run([*airflow, "dags", "test", "defer_wait"], env=env, capture_output=True, text=True,
                                timeout=900)
    except subprocess.TimeoutExpired as exc:  # say where it stuck
        pytest.fail(f"airflow dags test did not finish in 900 s:\n{(exc.stdout or b'')[-4000:]!r}")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "Pausing task as DEFERRED" in out and "Trigger completed" in out
    assert "state=success" in out or "new_state=success" in out
    assert fake.find("Job", f"{k.COMPONENT_LABEL}=probe"), "resumed after the trigger and probed /v1/models"
    p.teardown(run, ARM)
    assert fake.labelled() == []


def test_serving_context_points_the_connection_at_the_fake_and_restores_it(monkeypatch):
    from fake_k8s import serving

    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
    with serving() as running:
        assert k.Kube().api_client.configuration.host == running.url
        assert k.Kube().list("Pod", "featurebench", "") == []
    assert "AIRFLOW_CONN_KUBERNETES_DEFAULT" not in os.environ and running.server is None
