"""Shared fixtures: a real S3 API (moto server) on loopback, started and stopped by the tests."""

from __future__ import annotations

import uuid

import pytest

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDFAKEFORTESTS0001",
    "AWS_SECRET_ACCESS_KEY": "fake-secret-do-not-persist-0123456789",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint():
    """http://127.0.0.1:<free port> of a moto S3 server running for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint, monkeypatch):
    """A fresh bucket on the moto server; env points the AWS chain and featurebench at it. Yields its name."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FEATUREBENCH_S3_ENDPOINT_URL", moto_endpoint)
    bucket = f"fb-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    yield bucket
