"""The identity of one DAG run, handed from task to task as a plain dict (XCom-safe, no data)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from featurebench.layout import run_prefix
from featurebench.spec import REPO_ROOT

LABEL_PREFIX = "featurebench"  # Kubernetes labels: featurebench/benchmark, featurebench/run-id, featurebench/arm


def work_root() -> Path:
    """Local state (process groups, artifacts before upload, Airflow home): never in the user's home."""
    return Path(os.environ.get("FEATUREBENCH_WORK", REPO_ROOT / ".work")).resolve()


def results_root() -> str:
    """Where results go: a local folder by default, s3://bucket/prefix when configured."""
    return os.environ.get("FEATUREBENCH_RESULTS", str(work_root() / "results"))


@dataclass(frozen=True)
class RunContext:
    benchmark: str
    run_id: str  # safe_run_id() of the Airflow run id
    date: str  # logical date, YYYY-MM-DD
    platform: str  # local | kubernetes
    arms: list[str]
    points: dict[str, list[str]]  # arm -> load point labels
    trials: int
    spec_version: str
    spec_sha256: str
    image_tag: str
    gpu_type: str
    results_root: str
    dry_run: bool = False
    simulated: bool = True
    namespace: str = "featurebench"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunContext:
        return cls(**data)

    @property
    def prefix(self) -> str:
        return run_prefix(self.benchmark, self.date, self.run_id)

    @property
    def work_dir(self) -> Path:
        """This run's private local folder (discovery store, process-group files, raw artifacts)."""
        return work_root() / "runs" / self.benchmark / self.run_id

    def labels(self, arm: str | None = None) -> dict[str, str]:
        labels = {
            f"{LABEL_PREFIX}/benchmark": self.benchmark,
            f"{LABEL_PREFIX}/run-id": self.run_id,
        }
        if arm:
            labels[f"{LABEL_PREFIX}/arm"] = arm
        return labels
