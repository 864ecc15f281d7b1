"""The DAG's operators for the waits that may defer: wait_ready and run_load. Each asks the run's platform; on
Kubernetes they defer to the platform's triggers, so a starting deployment or a load Job of hours holds no
worker slot."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from featurebench.airflow import tasks
from featurebench.run import RunContext


def _kubernetes():
    """The Kubernetes platform, imported when a task runs (the DAG files never load the Kubernetes client)."""
    from featurebench.platforms import kubernetes

    return kubernetes.KubernetesPlatform()


class WaitArmReadyOperator(BaseOperator):
    """The DAG's wait_ready: on the kubernetes platform it defers to ArmReadyTrigger (no worker slot while the
    deployment starts), then probes /v1/models in the cluster; on any other platform it waits synchronously
    (featurebench.airflow.tasks.wait_ready). `run` and `endpoint` are templated: pass the XComArgs."""

    template_fields = ("run", "endpoint")

    def __init__(self, *, run: Any, arm: str, endpoint: Any, **kwargs):
        super().__init__(**kwargs)
        self.run, self.arm, self.endpoint = run, arm, endpoint

    def execute(self, context):
        run = RunContext.from_dict(self.run)
        if run.platform != "kubernetes":
            return tasks.wait_ready(self.run, self.arm, self.endpoint)
        trigger = _kubernetes().ready_trigger(run, self.arm, self.endpoint)
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context, event: dict) -> dict:
        return _kubernetes().finish_ready(RunContext.from_dict(self.run), self.arm, self.endpoint, event)


class RunLoadOperator(BaseOperator):
    """The DAG's run_load, one (point, trial) `job` per mapped instance. On the kubernetes platform it starts
    the load Job (or reattaches, per KubernetesPlatform.begin_load) and defers to LoadJobTrigger, so a trial of
    up to hours holds no worker slot; when the trigger fires it downloads the artifacts and ingests them
    (tasks.ingest_load). On any other platform it runs synchronously (tasks.run_load).
    `run`, `endpoint` and `job` are templated: pass the XComArgs; `job` is what .expand() maps over."""

    template_fields = ("run", "endpoint", "job")

    def __init__(self, *, run: Any, arm: str, endpoint: Any, job: Any, **kwargs):
        super().__init__(**kwargs)
        self.run, self.arm, self.endpoint, self.job = run, arm, endpoint, job

    def execute(self, context):
        run = RunContext.from_dict(self.run)
        if run.platform != "kubernetes":
            return tasks.run_load(self.run, self.arm, self.endpoint, self.job)
        p = _kubernetes()
        point, trial = self.job["point"], self.job["trial"]
        artifacts, started = p.begin_load(run, tasks.resolved_for(run), self.arm, point, trial)
        if artifacts is not None:  # finished in an earlier attempt with complete artifacts
            return tasks.ingest_load(self.run, self.arm, self.job, artifacts)
        self.defer(trigger=p.load_trigger(run.namespace, started), method_name="execute_complete",
                   kwargs={"job_name": started["job"], "timeout_s": started["timeout_s"]})

    def execute_complete(self, context, event: dict, job_name: str, timeout_s: float) -> dict:
        run = RunContext.from_dict(self.run)
        p = _kubernetes()
        if event.get("status") != "complete":
            raise p.job_error(run.namespace, job_name, event, timeout_s)
        artifacts = p.collect_load(run, self.arm, self.job["point"], self.job["trial"])
        return tasks.ingest_load(self.run, self.arm, self.job, artifacts)

