"""Kubernetes Jobs: the one rule for a Job's progress (its conditions and its pods' fail-fast problems), shared
by the platform's poll loop and LoadJobTrigger."""

from __future__ import annotations

import json
import logging

from featurebench.platforms.kubernetes import client as k

log = logging.getLogger(__name__)

DEFAULT_LOAD_TIMEOUT_S = 6 * 3600  # a load Job without activeDeadlineSeconds


def job_state(job: dict) -> str:
    # Not KubernetesHook.is_job_successful / is_job_failed: they take V1Job objects (ours are the API's JSON), test a
    # condition's status for truth (the string "False" passes) and know neither SuccessCriteriaMet nor FailureTarget.
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "complete"
        if cond.get("status") == "True" and cond.get("type") in ("Failed", "FailureTarget"):
            return "failed"
    return "running"


def job_status(kube: k.Kube, namespace: str, name: str, restart_budget: int) -> dict:
    """The one rule for a Job's progress, used by the poll loop (wait_job) and LoadJobTrigger:
    {"status": complete|failed|running, "message"}. A transient API error is "running" (poll again)."""
    try:
        job = kube.get("Job", namespace, name)
        pods = kube.list("Pod", namespace, k.selector({"job-name": name}))
    except Exception as exc:
        if not k.is_transient(exc):
            raise
        log.warning("API error while waiting for Job %s (retrying): %s", name, exc)
        return {"status": "running", "message": f"API error, will retry: {getattr(exc, 'status', '')} {type(exc).__name__}"}
    if job is None:
        return {"status": "failed", "message": "it disappeared while running (deleted by someone else?)"}
    state = job_state(job)
    if state == "complete":
        return {"status": "complete", "message": f"Job {name} complete"}
    fatal, pending = k.pod_problems(pods, restart_budget)
    if state == "failed" or fatal:
        return {"status": "failed", "message": "; ".join(fatal) or job_failure(job)}
    return {"status": "running", "message": "; ".join([f"Job {name} running", *pending])}



def job_failure(job: dict) -> str:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return f"{cond.get('reason', '')}: {cond.get('message', '')}"
    return "failed"


def api_message(exc) -> str:
    try:
        return json.loads(exc.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        return str(exc.body or "")[:300]

