"""The load image (docker/aiperf) built and run for real with podman: built on a base made here (debootstrap
minbase + python3), then its entry point runs fb-load -> AIPerf inside the container, on the host network, against
a local Dynamo frontend + mocker deployment, with the results store on a loopback moto S3. What it uploads is
then downloaded and ingested exactly as the Kubernetes platform does after a load Job.

The build is cached by a content-addressed tag (tests/podman_image.py): a re-run with an unchanged Dockerfile
and entry point reuses the image. One test function, so parallel workers (pytest -n) never build it twice.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import time

import podman_image
import pytest

from featurebench.settings import aiperf_bin, dynamo_python

REASON = podman_image.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def short_local_spec():
    """qwen3-32b's spec with a short closed loop on its local trace: 6 requests at concurrency 2."""
    from featurebench.spec import Load, Warmup, load_spec

    resolved = load_spec("qwen3-32b-kv-routing").latest
    local = resolved.spec.local.model_copy(update={
        "load": Load(mode="concurrency", concurrency=[2], request_count=6, extra_inputs={"ignore_eos": True},
                     request_timeout_s=60),
        "warmup": Warmup(requests=2, concurrency=1)})
    return resolved.model_copy(update={"spec": resolved.spec.model_copy(update={"local": local})})


@pytest.mark.skipif(not (os.access(dynamo_python(), os.X_OK) and os.access(aiperf_bin(), os.X_OK)),
                    reason="needs the .venvs/dynamo and .venvs/aiperf environments (scripts/setup.sh)")
def test_built_image_runs_fb_load_against_a_local_deployment_and_its_upload_ingests(
        tmp_path, s3_bucket, moto_endpoint, monkeypatch):
    from featurebench.layout import artifacts_prefix, traffic_key
    from featurebench.loadgen.aiperf import aiperf_command, aiperf_env
    from featurebench.platforms import get_platform
    from featurebench.platforms.kubernetes.artifacts import check_artifacts, download
    from featurebench.recipes import AIPERF_VERSION
    from featurebench.results.ingest import store_trial
    from featurebench.results.store import Store
    from featurebench.run import RunContext
    from featurebench.traces import ensure_trace

    podman_image.WORK.mkdir(parents=True, exist_ok=True)
    with open(podman_image.WORK / "build.lock", "w") as lock:  # another session building the same tag waits
        fcntl.flock(lock, fcntl.LOCK_EX)
        ref, build_s = podman_image.build()
    versions = podman_image.run(ref, ["-c", "import importlib.metadata as m; print(m.version('aiperf'), "
                                            "m.version('transformers'))"], entrypoint="python3", environment={})
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.split() == [AIPERF_VERSION, "4.57.3"]  # the pins of the Dockerfile

    monkeypatch.setenv("FEATUREBENCH_WORK", str(tmp_path / "work"))
    resolved = short_local_spec()
    arm, point, trial = "agg-round-robin", "c2", 1
    run = RunContext(benchmark=resolved.spec.id, run_id="image-test", date="2026-12-01", platform="local",
                     arms=[arm], points={arm: [point]}, trials=1, spec_version="test", spec_sha256="0" * 64,
                     image_tag="test", gpu_type="sim", results_root=f"s3://{s3_bucket}/root")
    store = Store.from_uri(run.results_root)
    trace = ensure_trace(resolved.spec.local.traffic)
    store.put_file(trace, traffic_key(run.benchmark, run.date, run.run_id, resolved.spec.local.traffic.file))
    prefix = artifacts_prefix(run.benchmark, run.date, run.run_id, arm, point, trial)

    platform = get_platform("local")
    endpoint = platform.provision(run, resolved, arm)
    try:
        platform.wait_ready(run, resolved, arm, endpoint)
        pod = tmp_path / "pod"  # the Job's emptyDir; the image runs as its own user (1000), like a pod
        pod.mkdir(mode=0o777)
        pod.chmod(0o777)
        command = aiperf_command(resolved, arm, point, trial, url=endpoint["url"], model=endpoint["model"],
                                 tokenizer=endpoint["tokenizer"], artifact_dir="/fb/artifacts",
                                 input_file=f"/fb/traffic/{trace.name}", platform="local")
        env = {**aiperf_env(hf_home="/model-cache", cache_dir="/fb/cache"),
               "FEATUREBENCH_ARTIFACTS_URI": f"{run.results_root}/{prefix}",
               "FEATUREBENCH_TRACE_URI": store.uri(traffic_key(run.benchmark, run.date, run.run_id,
                                                               resolved.spec.local.traffic.file)),
               "FEATUREBENCH_S3_ENDPOINT_URL": moto_endpoint,
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        started = time.monotonic()
        result = podman_image.run(ref, ["--", *command], environment=env,
                                  mounts=[(pod, "/fb", False), (endpoint["hf_home"], "/model-cache", True)])
        run_s = time.monotonic() - started
    finally:
        platform.teardown(run, arm)
    assert result.returncode == 0, f"fb-load in the container failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    assert "uploaded" in result.stdout

    dest = download(run.results_root, prefix, tmp_path / "downloaded")
    check_artifacts(dest, store.uri(prefix))
    assert (dest / "logs" / "fb-load-console.txt").exists()
    # ingested as the Kubernetes platform does (the artifacts are already in the store, uploaded by the pod)
    row = store_trial(store, dataclasses.replace(run, platform="kubernetes"), resolved, arm, point, trial, dest)
    assert row["requests"] == 6 and row["errors"] == 0
    (podman_image.WORK / "timings.json").write_text(json.dumps({"build_s": round(build_s, 1), "run_s": round(run_s, 1)}))
