"""The identity of one DAG run, handed from task to task as a plain dict (XCom-safe, no data)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from featurebench.layout import run_prefix
from featurebench.settings import work_root

LABEL_PREFIX = "featurebench"
# Every Kubernetes label key the project sets, in one place. The first three identify a run's objects
# (RunContext.labels); component says what a pod does besides serving (load, probe); point and trial pick a load Job.
BENCHMARK_LABEL = f"{LABEL_PREFIX}/benchmark"
RUN_LABEL = f"{LABEL_PREFIX}/run-id"
ARM_LABEL = f"{LABEL_PREFIX}/arm"
COMPONENT_LABEL = f"{LABEL_PREFIX}/component"
POINT_LABEL = f"{LABEL_PREFIX}/point"
TRIAL_LABEL = f"{LABEL_PREFIX}/trial"


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
        labels = {BENCHMARK_LABEL: self.benchmark, RUN_LABEL: self.run_id}
        if arm:
            labels[ARM_LABEL] = arm
        return labels
