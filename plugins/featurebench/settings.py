"""Every environment variable featurebench reads, in one place, each read when it is asked for (never at import
time), so a test or a task that sets a variable sees it without re-importing anything.

Paths of the repository itself (REPO_ROOT and the include/ folders) are constants: they follow the code, not the
environment. Credentials are never read here: S3 access comes from the AWS chain, Kubernetes access from the
Airflow connection named by FEATUREBENCH_K8S_CONN_ID.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = REPO_ROOT / "include"
TRACES_DIR = INCLUDE_DIR / "traces"
RECIPES_DIR = INCLUDE_DIR / "recipes"
POOLS_FILE = RECIPES_DIR / "pools.yaml"

PLATFORMS = ("local", "kubernetes")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def benchmarks_dir() -> Path:
    """FEATUREBENCH_BENCHMARKS_DIR points the DAGs and tools at another folder of specs (tests use it)."""
    return Path(_env("FEATUREBENCH_BENCHMARKS_DIR", str(INCLUDE_DIR / "benchmarks")))


def work_root() -> Path:
    """FEATUREBENCH_WORK: local state (process groups, artifacts before upload, Airflow home), never the home dir."""
    return Path(_env("FEATUREBENCH_WORK", str(REPO_ROOT / ".work"))).resolve()


def results_root() -> str:
    """FEATUREBENCH_RESULTS: where results go; a local folder by default, s3://bucket/prefix when configured."""
    return _env("FEATUREBENCH_RESULTS") or str(work_root() / "results")


def default_platform() -> str:
    """FEATUREBENCH_PLATFORM: where scheduled runs (and the form's default) deploy; `local` unless set."""
    platform = os.environ.get("FEATUREBENCH_PLATFORM", "local")
    if platform not in PLATFORMS:
        raise ValueError(f"FEATUREBENCH_PLATFORM is {platform!r}: set it to local or kubernetes")
    return platform


# --- local platform --------------------------------------------------------------------------------------------


def dynamo_python() -> str:
    """FEATUREBENCH_DYNAMO_PYTHON: the Python of the side environment with ai-dynamo (frontend + mocker)."""
    return _env("FEATUREBENCH_DYNAMO_PYTHON", str(REPO_ROOT / ".venvs" / "dynamo" / "bin" / "python"))


def aiperf_bin() -> str:
    """FEATUREBENCH_AIPERF_BIN: the AIPerf CLI of its side environment."""
    return _env("FEATUREBENCH_AIPERF_BIN", str(REPO_ROOT / ".venvs" / "aiperf" / "bin" / "aiperf"))


def local_load_timeout_s() -> float:
    """FEATUREBENCH_LOAD_TIMEOUT_S: how long a local AIPerf run may take beyond its request timeout."""
    return float(_env("FEATUREBENCH_LOAD_TIMEOUT_S", "1800"))


# --- Kubernetes platform ---------------------------------------------------------------------------------------

DEFAULT_K8S_CONN_ID = "kubernetes_default"


def k8s_conn_id() -> str:
    """FEATUREBENCH_K8S_CONN_ID: the Airflow Kubernetes connection (credentials stay in the connection)."""
    return _env("FEATUREBENCH_K8S_CONN_ID", DEFAULT_K8S_CONN_ID)


def k8s_namespace() -> str:
    """FEATUREBENCH_K8S_NAMESPACE: where runs deploy (and where the janitor looks)."""
    return _env("FEATUREBENCH_K8S_NAMESPACE", "featurebench")


def k8s_poll_s() -> float:
    """FEATUREBENCH_K8S_POLL_S: seconds between two polls of a deployment or a Job."""
    return float(_env("FEATUREBENCH_K8S_POLL_S", "10"))


def k8s_restart_budget() -> int:
    """FEATUREBENCH_K8S_RESTART_BUDGET: container restarts tolerated before an arm or a Job counts as failed."""
    return int(_env("FEATUREBENCH_K8S_RESTART_BUDGET", "3"))


def probe_image(default: str) -> str:
    """FEATUREBENCH_PROBE_IMAGE: the probe pod's image when no load Job image can be reused."""
    return _env("FEATUREBENCH_PROBE_IMAGE", default)


# The load pods' cluster settings (pools.yaml `load:`), each overridable by one variable. None is a secret.
LOAD_ENV = {"image": "FEATUREBENCH_AIPERF_IMAGE", "service_account": "FEATUREBENCH_LOAD_SERVICE_ACCOUNT",
            "s3_env_from": "FEATUREBENCH_LOAD_S3_ENV_FROM", "s3_endpoint_url": "FEATUREBENCH_LOAD_S3_ENDPOINT_URL"}


def load_overrides() -> dict[str, str]:
    """The LOAD_ENV variables that are set, by pools.yaml key."""
    return {key: os.environ[var] for key, var in LOAD_ENV.items() if os.environ.get(var)}


# --- results store ---------------------------------------------------------------------------------------------

S3_ENDPOINT_ENV = "FEATUREBENCH_S3_ENDPOINT_URL"


def s3_endpoint_url() -> str | None:
    """The S3 endpoint: ours first, then the variables boto3 itself honours; None means AWS."""
    for name in (S3_ENDPOINT_ENV, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return os.environ[name]
    return None


def aws_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
