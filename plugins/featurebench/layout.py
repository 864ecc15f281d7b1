"""Keys of the results store (Hive-style partitions, so DuckDB/Athena/Spark read it as one table)."""

from __future__ import annotations

import hashlib
import re

MAX_RUN_ID = 63  # a Kubernetes label value holds at most 63 characters
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_run_id(run_id: str) -> str:
    """An Airflow run id ('manual__2026-11-26T18:00:00+00:00') as a path- and label-safe token."""
    token = _UNSAFE.sub("-", run_id).strip("-.")
    if not token:
        raise ValueError(f"run id {run_id!r} has no usable characters")
    if len(token) > MAX_RUN_ID:  # keep it unique: shorten, then add a hash of the full id
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
        token = f"{token[: MAX_RUN_ID - 11].rstrip('-.')}-{digest}"
    return token


def run_prefix(benchmark: str, date: str, run_id: str) -> str:
    return f"benchmark={benchmark}/date={date}/run={run_id}"


def trial_prefix(benchmark: str, date: str, run_id: str, arm: str, point: str, trial: int) -> str:
    return f"{run_prefix(benchmark, date, run_id)}/arm={arm}/point={point}/trial={trial}"


def requests_key(benchmark: str, date: str, run_id: str, arm: str, point: str, trial: int) -> str:
    return f"{trial_prefix(benchmark, date, run_id, arm, point, trial)}/requests.parquet"


def trial_summary_key(benchmark: str, date: str, run_id: str, arm: str, point: str, trial: int) -> str:
    return f"{trial_prefix(benchmark, date, run_id, arm, point, trial)}/summary.parquet"


def artifacts_prefix(benchmark: str, date: str, run_id: str, arm: str, point: str, trial: int) -> str:
    return f"{trial_prefix(benchmark, date, run_id, arm, point, trial)}/aiperf"


def traffic_key(benchmark: str, date: str, run_id: str, file: str) -> str:
    """Where a run's trace (and, beside it, its images) sits for the load pods: <run>/traffic/<file>."""
    return f"{run_prefix(benchmark, date, run_id)}/traffic/{file.strip('/')}"
