"""Shared fixtures: a real S3 API (moto server) on loopback, started and stopped by the tests; an Airflow DB
migrated once per session. Tests live in unit/ (mirroring plugins/featurebench/), integration/ and e2e/, and each
gets the marker of its folder (pyproject.toml lists them): `pytest -m unit` runs the fast ones."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "integration", "e2e")


# Tests that take minutes, longest first (measured, `make test` on this 2-core machine). xdist's worksteal gives
# each worker a contiguous share of the collection; the slow tests are dealt out over those shares, each at the
# front of its share, so no worker gets two of the longest and none of them starts last while the others idle.
SLOW_FIRST = (
    "e2e/test_e2e_local.py", "integration/test_load_image_build.py", "e2e/test_e2e_kubernetes.py",
    "e2e/test_ui_browser.py", "e2e/test_e2e_killed.py", "e2e/test_e2e_all_benchmarks.py", "e2e/test_run_output.py",
    "integration/test_backfill_scheduler.py", "e2e/test_e2e_failure.py", "integration/test_local_platform.py",
    "integration/test_backfill.py", "unit/analysis/test_regression.py",
)


def _slowness(item) -> int:
    path = Path(item.fspath).resolve().relative_to(TESTS).as_posix()
    return next((i for i, prefix in enumerate(SLOW_FIRST) if path == prefix), len(SLOW_FIRST))


def _dealt(items: list, workers: int) -> list:
    """Slow tests round-robin over the workers' shares (as worksteal splits them), each share topped up in order."""
    slow = sorted((i for i in items if _slowness(i) < len(SLOW_FIRST)), key=_slowness)
    rest = [i for i in items if _slowness(i) == len(SLOW_FIRST)]
    order, left = [], len(items)
    for w in range(workers):
        share = left // (workers - w)  # worksteal's own split
        mine = slow[w::workers]
        order += mine + rest[:max(share - len(mine), 0)]
        del rest[:max(share - len(mine), 0)]
        left -= share
    return order + rest


def pytest_collection_modifyitems(config, items):
    for item in items:
        kind = Path(item.fspath).resolve().relative_to(TESTS).parts[0]
        if kind in KINDS:
            item.add_marker(kind)
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    items[:] = _dealt(items, workers)

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


class MigratedAirflowDB:
    """An Airflow metadata DB (SQLite) migrated once; seed(home) gives a home a fresh copy of its own."""

    def __init__(self, template, version: str):
        self.template, self.version = template, version

    def seed(self, home) -> None:
        import shutil
        from pathlib import Path

        home = Path(home)
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.template, home / "airflow.db")
        (home / ".migrated").write_text(self.version)  # what featurebench.cli.main.ensure_airflow_db checks


@pytest.fixture(scope="session")
def migrated_airflow_db(tmp_path_factory) -> MigratedAirflowDB:
    """`airflow db migrate` once per test session (per xdist worker): it takes tens of seconds on a loaded machine,
    and every Airflow test used to run it into its own fresh home. Each test still gets an empty, fully migrated
    database of its own (a copy)."""
    import subprocess

    from airflow import __version__

    from featurebench.cli.main import AIRFLOW_BIN, airflow_env

    home = tmp_path_factory.mktemp("airflow-db-template")
    env = {**airflow_env(), "AIRFLOW_HOME": str(home)}
    subprocess.run([AIRFLOW_BIN, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    return MigratedAirflowDB(home / "airflow.db", __version__)


@pytest.fixture
def fresh_airflow_db(migrated_airflow_db):
    """seed(env): a fresh copy of the migrated DB in env's AIRFLOW_HOME; returns env."""

    def seed(env: dict[str, str]) -> dict[str, str]:
        migrated_airflow_db.seed(env["AIRFLOW_HOME"])
        return env

    return seed
