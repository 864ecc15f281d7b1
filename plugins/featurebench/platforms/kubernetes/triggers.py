"""The deferrable waits: an arm's readiness and a load Job's progress, polled in the triggerer with the same
rules as the platform's synchronous loops (client.check_arm, jobs.job_status).

A trigger's classpath is stored with a deferred task: the classes also answer under their old path
(featurebench.platforms.kubernetes.<Trigger>, before the package split), so a run deferred then still resumes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from featurebench.platforms.kubernetes import client as k
from featurebench.platforms.kubernetes.jobs import job_status

TRIGGER_CLASSPATH = "featurebench.platforms.kubernetes.triggers.ArmReadyTrigger"
LOAD_TRIGGER_CLASSPATH = "featurebench.platforms.kubernetes.triggers.LoadJobTrigger"


class ArmReadyTrigger(BaseTrigger):
    """Polls an arm's readiness in the triggerer with the same rule as the sync loop (kube.check_arm).
    Fires one event: {"state": ready|failed|timeout, "message", "bad_pods"}. Carries a connection id, never
    credentials."""

    def __init__(self, conn_id: str, namespace: str, workloads: list, pod_selector: str, restart_budget: int,
                 deadline: float, poll_interval: float = 10.0):
        super().__init__()
        self.conn_id = conn_id
        self.namespace = namespace
        self.workloads = [list(w) for w in workloads]
        self.pod_selector = pod_selector
        self.restart_budget = restart_budget
        self.deadline = deadline
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return TRIGGER_CLASSPATH, {
            "conn_id": self.conn_id, "namespace": self.namespace, "workloads": self.workloads,
            "pod_selector": self.pod_selector, "restart_budget": self.restart_budget,
            "deadline": self.deadline, "poll_interval": self.poll_interval,
        }

    async def run(self):
        kube = k.Kube(self.conn_id)
        workloads = [tuple(w) for w in self.workloads]
        while True:
            # the sync client in a thread: one code path with the poll loop, and the event loop stays free
            verdict = await asyncio.to_thread(
                k.check_arm, kube, self.namespace, workloads, self.pod_selector, self.restart_budget
            )
            if verdict.state != "waiting":
                yield TriggerEvent(verdict.to_dict())
                return
            if time.time() > self.deadline:
                yield TriggerEvent({"state": "timeout", "message": verdict.message, "bad_pods": []})
                return
            self.log.info("%s", verdict.message)
            await asyncio.sleep(self.poll_interval)


class LoadJobTrigger(BaseTrigger):
    """Polls a load Job and its pods in the triggerer with the same rule as the sync loop (job_status).
    Fires one event: {"status": complete|failed|timeout, "message"}. `deadline` is a wall-clock time (the Job's
    timeout from when it was started), so a triggerer restart does not extend it. Carries a connection id,
    never credentials."""

    def __init__(self, conn_id: str, namespace: str, job_name: str, deadline: float, restart_budget: int,
                 poll_interval: float = 10.0):
        super().__init__()
        self.conn_id = conn_id
        self.namespace = namespace
        self.job_name = job_name
        self.deadline = deadline
        self.restart_budget = restart_budget
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return LOAD_TRIGGER_CLASSPATH, {
            "conn_id": self.conn_id, "namespace": self.namespace, "job_name": self.job_name,
            "deadline": self.deadline, "restart_budget": self.restart_budget, "poll_interval": self.poll_interval,
        }

    async def run(self):
        kube = k.Kube(self.conn_id)
        while True:
            event = await asyncio.to_thread(job_status, kube, self.namespace, self.job_name, self.restart_budget)
            if event["status"] != "running":
                yield TriggerEvent(event)
                return
            if time.time() > self.deadline:
                yield TriggerEvent({"status": "timeout", "message": event["message"]})
                return
            self.log.info("%s", event["message"])
            await asyncio.sleep(self.poll_interval)

