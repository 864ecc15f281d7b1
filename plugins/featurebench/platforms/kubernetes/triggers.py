"""The waits of the Kubernetes platform: an arm's readiness and a load Job's progress. Each stop rule is written
once (`ready_outcome`, `job_outcome`) and polled either in the task (`poll`, the platform's synchronous waits) or
in the triggerer (`ArmReadyTrigger`, `LoadJobTrigger`, through `poll_async`).

A trigger's classpath is stored with a deferred task: the classes also answer under their old path
(featurebench.platforms.kubernetes.<Trigger>, before the package split), so a run deferred then still resumes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from featurebench.platforms.kubernetes import client as k
from featurebench.platforms.kubernetes.jobs import job_status

TRIGGER_CLASSPATH = "featurebench.platforms.kubernetes.triggers.ArmReadyTrigger"
LOAD_TRIGGER_CLASSPATH = "featurebench.platforms.kubernetes.triggers.LoadJobTrigger"

# One look at what is waited for: (the event that ends the wait, or None to look again; what it waits for).
Look = Callable[[], tuple[dict | None, str]]


def ready_outcome(kube: k.Kube, namespace: str, workloads: list, pod_selector: str, restart_budget: int,
                  deadline: float) -> tuple[dict | None, str]:
    """An arm's readiness (client.check_arm): {"state": ready|failed|timeout, "message", "bad_pods"} ends the
    wait. `deadline` is a wall-clock time."""
    verdict = k.check_arm(kube, namespace, [tuple(w) for w in workloads], pod_selector, restart_budget)
    if verdict.state != "waiting":
        return verdict.to_dict(), verdict.message
    if time.time() > deadline:
        return {"state": "timeout", "message": verdict.message, "bad_pods": []}, verdict.message
    return None, verdict.message


def job_outcome(kube: k.Kube, namespace: str, name: str, restart_budget: int,
                deadline: float) -> tuple[dict | None, str]:
    """A Job's progress (jobs.job_status): {"status": complete|failed|timeout, "message"} ends the wait.
    `deadline` is a wall-clock time."""
    event = job_status(kube, namespace, name, restart_budget)
    if event["status"] != "running":
        return event, event["message"]
    if time.time() > deadline:
        return {"status": "timeout", "message": event["message"]}, event["message"]
    return None, event["message"]


def poll(look: Look, interval: float, log) -> dict:
    """Look until the wait ends, in this process; returns the event that ended it."""
    while True:
        event, message = look()
        if event is not None:
            return event
        log.info("%s", message)
        time.sleep(interval)


async def poll_async(look: Look, interval: float, log) -> dict:
    """`poll` in the triggerer: the sync client in a thread, so the event loop stays free."""
    while True:
        event, message = await asyncio.to_thread(look)
        if event is not None:
            return event
        log.info("%s", message)
        await asyncio.sleep(interval)


class ArmReadyTrigger(BaseTrigger):
    """Polls an arm's readiness in the triggerer (ready_outcome). Fires one event: {"state": ready|failed|timeout,
    "message", "bad_pods"}. Carries a connection id, never credentials."""

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

        def look():
            return ready_outcome(kube, self.namespace, self.workloads, self.pod_selector, self.restart_budget,
                                 self.deadline)

        yield TriggerEvent(await poll_async(look, self.poll_interval, self.log))


class LoadJobTrigger(BaseTrigger):
    """Polls a load Job and its pods in the triggerer (job_outcome). Fires one event: {"status":
    complete|failed|timeout, "message"}. `deadline` is a wall-clock time (the Job's timeout from when it was
    started), so a triggerer restart does not extend it. Carries a connection id, never credentials."""

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

        def look():
            return job_outcome(kube, self.namespace, self.job_name, self.restart_budget, self.deadline)

        yield TriggerEvent(await poll_async(look, self.poll_interval, self.log))
