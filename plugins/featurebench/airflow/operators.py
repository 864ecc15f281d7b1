"""The DAG's operators for the waits that may defer: wait_ready and run_load. Each asks the run's platform: a
DeferringPlatform (platforms.base; Kubernetes) hands the wait to its trigger, so a starting deployment or a load
Job of hours holds no worker slot; any other platform waits inside the task (tasks.wait_ready, tasks.run_load)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from featurebench.airflow import tasks
from featurebench.platforms import get_platform
from featurebench.platforms.base import DeferringPlatform
from featurebench.run import RunContext


class WaitArmReadyOperator(BaseOperator):
    """The DAG's wait_ready: deferred to the platform's trigger where it has one, then finished by the platform
    (on Kubernetes: a probe of /v1/models in the cluster). `run` and `endpoint` are templated: pass the
    XComArgs."""

    template_fields = ("run", "endpoint")

    def __init__(self, *, run: Any, arm: str, endpoint: Any, **kwargs):
        super().__init__(**kwargs)
        self.run, self.arm, self.endpoint = run, arm, endpoint

    def execute(self, context):
        run = RunContext.from_dict(self.run)
        platform = get_platform(run.platform)
        if not isinstance(platform, DeferringPlatform):
            return tasks.wait_ready(self.run, self.arm, self.endpoint)
        wait = platform.begin_ready(run, self.arm, self.endpoint)
        self.defer(trigger=wait.trigger, method_name="execute_complete", kwargs=wait.kwargs)

    def execute_complete(self, context, event: dict, **kwargs) -> dict:
        run = RunContext.from_dict(self.run)
        return get_platform(run.platform).finish_ready(run, self.arm, self.endpoint, event, **kwargs)


class RunLoadOperator(BaseOperator):
    """The DAG's run_load, one (point, trial) `job` per mapped instance. Where the platform defers, it starts the
    load (or reattaches, per DeferringPlatform.begin_load) and defers to its trigger, so a trial of up to hours
    holds no worker slot; when the trigger fires the platform collects the artifacts and they are ingested
    (tasks.ingest_load). Elsewhere it runs synchronously (tasks.run_load).
    `run`, `endpoint` and `job` are templated: pass the XComArgs; `job` is what .expand() maps over."""

    template_fields = ("run", "endpoint", "job")

    def __init__(self, *, run: Any, arm: str, endpoint: Any, job: Any, **kwargs):
        super().__init__(**kwargs)
        self.run, self.arm, self.endpoint, self.job = run, arm, endpoint, job

    def execute(self, context):
        run = RunContext.from_dict(self.run)
        platform = get_platform(run.platform)
        if not isinstance(platform, DeferringPlatform):
            return tasks.run_load(self.run, self.arm, self.endpoint, self.job)
        started = platform.begin_load(run, tasks.resolved_for(run), self.arm, self.job["point"], self.job["trial"])
        if isinstance(started, Path):  # finished in an earlier attempt with complete artifacts
            return tasks.ingest_load(self.run, self.arm, self.job, started)
        self.defer(trigger=started.trigger, method_name="execute_complete", kwargs=started.kwargs)

    def execute_complete(self, context, event: dict, **kwargs) -> dict:
        run = RunContext.from_dict(self.run)
        artifacts = get_platform(run.platform).finish_load(run, self.arm, self.job["point"], self.job["trial"],
                                                           event, **kwargs)
        return tasks.ingest_load(self.run, self.arm, self.job, artifacts)
