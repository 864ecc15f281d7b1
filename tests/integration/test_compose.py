"""docker-compose.yaml: valid against the Compose spec schema (bundled with check-jsonschema, so offline), and
the stack the README promises. There is no Docker engine here: nothing is started, the file is only checked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|ACCESS_KEY", re.IGNORECASE)


def validate(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"
    # an unusable proxy: a validator that tried to download its schema would fail here
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    return subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_schema_is_bundled_and_the_file_validates():
    import check_jsonschema

    bundled = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    assert bundled.exists(), "the compose-spec schema ships inside the package: no download"
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validator_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    command: scheduler\n", "    command: scheduler\n    restart_policy: always\n"))
    result = validate(broken)
    assert result.returncode != 0 and "restart_policy" in result.stdout + result.stderr


def test_the_stack(compose):
    services = compose["services"]
    assert {"postgres", "minio"} | AIRFLOW_SERVICES == set(services)
    assert services["postgres"]["image"] == "postgres:16"
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert re.search(r"apache/airflow:3\.3\.2\b", svc["image"])
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["FEATUREBENCH_RESULTS"].startswith("s3://") and env["FEATUREBENCH_S3_ENDPOINT_URL"] == "http://minio:9000"
        mounts = {v.split(":")[1] for v in svc["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include"} <= mounts
        if name != "airflow-init":
            assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == "api-server" and commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor" and commands["airflow-triggerer"] == "triggerer"
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert "featurebench.platforms.kubernetes pools-json" in init and "airflow pools import" in init
    assert "create_bucket" in init


def test_no_secret_inline_and_ports_on_loopback(compose):
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET_KEY.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", str(value)), f"{name}: {key} must come from .env"
        conn = (svc.get("environment") or {}).get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        if conn:
            assert re.search(r"://airflow:\$\{POSTGRES_PASSWORD:\?[^}]*\}@", conn), "the DB password comes from .env"
        for port in svc.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_env_example_names_every_required_variable():
    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text()))
    example = dict(line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert required and required <= set(example)
    assert all(example[k] == "change-me" for k in required if SECRET_KEY.search(k)), "placeholders only"
