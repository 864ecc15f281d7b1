"""The AIPerf load image (docker/aiperf): the Dockerfile's pins, and its entry point fb_load.py run for real
against a loopback S3 (moto) with tests/fake_aiperf.py standing in for AIPerf. There is no Docker engine here,
so the image itself is never built in tests: the Dockerfile is checked line by line."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "docker" / "aiperf"
RECORDED = REPO / "tests" / "fixtures" / "aiperf"
FAKE_AIPERF = [sys.executable, str(REPO / "tests" / "fake_aiperf.py"), str(RECORDED)]
sys.path.insert(0, str(IMAGE_DIR))
import fb_load


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (IMAGE_DIR / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_well_formed_and_pinned():
    from featurebench import recipes
    from featurebench.results.ingest import SKIPPED_ARTIFACTS

    known = {"FROM", "ARG", "RUN", "COPY", "ENV", "USER", "WORKDIR", "ENTRYPOINT", "CMD", "LABEL"}
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.12-slim")
    assert {word for word, _ in instructions} <= known
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG" and "=" in rest)
    pinned = (REPO / "requirements-aiperf.txt").read_text().split("aiperf==")[1].split()[0]
    assert args["AIPERF_VERSION"] == pinned == recipes.AIPERF_VERSION, "image, requirements and recipes agree"
    assert recipes.AIPERF_IMAGE.endswith(":" + pinned), "the image tag is the AIPerf version"
    boto3 = re.search(r"^boto3==(\S+)", (REPO / "requirements.txt").read_text(), re.M).group(1)
    assert args["BOTO3_VERSION"] == boto3
    (run,) = [rest for word, rest in instructions if word == "RUN"]
    assert '"aiperf==${AIPERF_VERSION}"' in run and '"boto3==${BOTO3_VERSION}"' in run
    assert "build-essential" in run and '"${TARGETARCH}" = "arm64"' in run, "compiler only where crick needs it"
    assert ("COPY", "--chmod=0755 fb_load.py /usr/local/bin/fb-load") in instructions
    assert json.loads(dict(instructions)["ENTRYPOINT"]) == ["fb-load", "--"]
    env = dict(instructions)["ENV"]
    assert "HF_HUB_OFFLINE=1" in env and not re.search(r"TOKEN=|SECRET|KEY=", env)
    assert fb_load.SKIPPED == SKIPPED_ARTIFACTS and fb_load.READY_MARKER == ".aiperf_results_ready.json"


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    import boto3

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "fb-load-secret-sentinel",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    try:
        client.create_bucket(Bucket="fb-load")
    except client.exceptions.BucketAlreadyOwnedByYou:  # the moto server lives for the session
        pass
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="fb-load"):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket="fb-load", Key=obj["Key"])  # each test starts with an empty bucket
    return client


def pod_env(moto_endpoint: str, **extra) -> dict:
    return {"FEATUREBENCH_ARTIFACTS_URI": "s3://fb-load/results/run/aiperf",
            "FEATUREBENCH_S3_ENDPOINT_URL": moto_endpoint, **extra}


def test_trace_in_artifacts_out_marker_last(s3, moto_endpoint, tmp_path, capsys, monkeypatch):
    s3.put_object(Bucket="fb-load", Key="results/run/traffic/t/full.jsonl", Body=b'{"timestamp": 0, "input_length": 8}\n')
    order = []
    real_upload = fb_load.Store.upload
    monkeypatch.setattr(fb_load.Store, "upload", lambda self, src, uri: order.append(uri) or real_upload(self, src, uri))
    rc = fb_load.main(["--", *FAKE_AIPERF, "profile", "--artifact-dir", str(tmp_path / "pod" / "artifacts"),
                       "--input-file", str(tmp_path / "pod" / "traffic" / "t" / "full.jsonl")],
                      pod_env(moto_endpoint, FEATUREBENCH_TRACE_URI="s3://fb-load/results/run/traffic/t/full.jsonl"))
    assert rc == 0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="fb-load", Prefix="results/run/aiperf/")["Contents"]}
    recorded = {p.relative_to(RECORDED).as_posix() for p in RECORDED.rglob("*") if p.is_file()}
    want = {f"results/run/aiperf/{name}" for name in recorded - fb_load.SKIPPED}
    assert want <= keys and not any(k.endswith(tuple(fb_load.SKIPPED)) for k in keys)
    assert "results/run/aiperf/logs/fb-load-console.txt" in keys, "AIPerf's console travels with the artifacts"
    assert order[-1].endswith("/" + fb_load.READY_MARKER), "the completion marker is uploaded last"
    seen = json.loads(s3.get_object(Bucket="fb-load", Key="results/run/aiperf/fake-aiperf-seen.json")["Body"].read())
    assert seen["rows"] == 1, "AIPerf read the trace the pod downloaded"
    assert "fb-load-secret-sentinel" not in capsys.readouterr().out


def test_failed_aiperf_uploads_its_log_and_fails_the_pod(s3, moto_endpoint, tmp_path):
    rc = fb_load.main(["--", *FAKE_AIPERF[:2], str(RECORDED), "7", "profile",
                       "--artifact-dir", str(tmp_path / "artifacts")], pod_env(moto_endpoint))
    assert rc == 7
    body = s3.get_object(Bucket="fb-load", Key="results/run/aiperf/logs/fb-load-console.txt")["Body"].read()
    assert b"exit 7" in body


def test_missing_trace_or_bad_contract_fails_fast(s3, moto_endpoint, tmp_path):
    artifacts = ["--artifact-dir", str(tmp_path / "a")]
    env = pod_env(moto_endpoint, FEATUREBENCH_TRACE_URI="s3://fb-load/results/run/traffic/missing.jsonl")
    assert fb_load.main(["--", *FAKE_AIPERF, *artifacts, "--input-file", str(tmp_path / "t.jsonl")], env) == 3
    assert fb_load.main(["--", *FAKE_AIPERF, *artifacts], env) == 2, "a trace URI without --input-file"
    assert fb_load.main(["--", *FAKE_AIPERF, *artifacts], {}) == 2, "no upload target"
    assert "Contents" not in s3.list_objects_v2(Bucket="fb-load", Prefix="results/run/aiperf/")


def test_image_rewrite_matches_featurebench(tmp_path):
    """fb_load cannot import featurebench: its copy of absolute_media must write the same rows."""
    from featurebench.traces.images import absolute_media

    trace = tmp_path / "t.jsonl"
    trace.write_text('{"text": "a", "images": ["images/t/p1.png", "images/t/p2.png"]}\n{"text": "b"}\n')
    expected = absolute_media(trace, tmp_path / "expected.jsonl", "http://10.0.0.7:8080").read_text()
    fb_load.rewrite_images(trace, "http://10.0.0.7:8080")
    assert trace.read_text() == expected
    assert fb_load.image_names(tmp_path / "expected.jsonl") == ["http://10.0.0.7:8080/images/t/p1.png",
                                                                "http://10.0.0.7:8080/images/t/p2.png"]


def test_model_download_job_is_valid_and_names_its_secret_only():
    import kubernetes_validate
    import yaml

    (job,) = yaml.safe_load_all((REPO / "include" / "recipes" / "model-download.yaml").read_text())
    kubernetes_validate.validate(job, "1.33", strict=True)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HF_HOME"] == "/model-cache" and "/" in env["MODEL_NAME"]  # HF-cache layout, org/name
    assert container["envFrom"] == [{"secretRef": {"name": "hf-token-secret", "optional": True}}]
    assert not [name for name in env if re.search(r"TOKEN|SECRET|KEY", name)]
