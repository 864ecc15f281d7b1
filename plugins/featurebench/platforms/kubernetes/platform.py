"""The kubernetes platform itself: an arm is the objects recipes.render_arm renders (a DynamoGraphDeployment or a vLLM
Deployment + Service, ConfigMaps), created through the Airflow Kubernetes connection; load runs as AIPerf Jobs
inside the cluster that write their artifacts to the results store; teardown deletes by label.

It is a DeferringPlatform (platforms.base): the operators hand its waits to the triggerer (begin_ready /
finish_ready, begin_load / finish_load), so a starting arm or a load Job of hours holds no worker slot; the
synchronous Platform methods poll the same rules in the task (triggers.ready_outcome, triggers.job_outcome).
Besides:
  - `pool_for(resolved, gpu_type)` and `pools_json()`: Airflow pools sized in GPUs, from include/recipes/pools.yaml;
  - `KubernetesPlatform.janitor(ttl, dry_run)`: reap labelled objects older than a TTL.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path

from featurebench import settings
from featurebench.errors import ForeignObjectError, KubernetesError
from featurebench.layout import artifacts_prefix
from featurebench.platforms.base import Deferral
from featurebench.platforms.kubernetes import client as k
from featurebench.platforms.kubernetes.artifacts import check_artifacts, download, publish_traffic, store_for
from featurebench.platforms.kubernetes.jobs import DEFAULT_LOAD_TIMEOUT_S, api_message, job_state
from featurebench.platforms.kubernetes.manifests import (
    PROBE_IMAGE,
    PROBE_TIMEOUT_S,
    check_labels,
    container_image,
    in_cluster_url,
    load_arg,
    probe_job,
    served_model,
    stamp,
    text_hash,
)
from featurebench.platforms.kubernetes.triggers import ArmReadyTrigger, LoadJobTrigger, job_outcome, poll, ready_outcome
from featurebench.run import RunContext
from featurebench.spec import ResolvedSpec

log = logging.getLogger(__name__)


class KubernetesPlatform:
    name = "kubernetes"

    def __init__(
        self,
        kube: k.Kube | None = None,
        render: Callable[..., list[dict]] | None = None,
        poll_interval: float | None = None,
        restart_budget: int | None = None,
        probe_timeout_s: int = PROBE_TIMEOUT_S,
    ):
        self._kube_obj = kube
        self._render = render
        self.poll_interval = poll_interval or settings.k8s_poll_s()
        self.restart_budget = restart_budget if restart_budget is not None else settings.k8s_restart_budget()
        self.probe_timeout_s = probe_timeout_s

    @property
    def kube(self) -> k.Kube:
        if self._kube_obj is None:
            self._kube_obj = k.Kube()
        return self._kube_obj

    # --- rendering ---------------------------------------------------------------------------------------
    def manifests(self, run: RunContext, resolved: ResolvedSpec, arm: str) -> list[dict]:
        if self._render is None:
            from featurebench.recipes import render_arm

            self._render = render_arm
        labels = run.labels(arm)
        check_labels(labels)
        out = []
        for m in self._render(resolved, arm, run, platform="kubernetes"):
            if m.get("kind") not in k.KINDS:
                name = (m.get("metadata") or {}).get("name")
                raise KubernetesError(f"the platform cannot create or clean up kind {m.get('kind')!r} ({name})")
            out.append(stamp(m, labels, run.namespace))
        return out

    def _own(self, obj: dict, run: RunContext, arm: str) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return labels.get(k.RUN_LABEL) == run.run_id and labels.get(k.ARM_LABEL) == arm

    def _create(self, run: RunContext, arm: str, body: dict) -> tuple[dict, bool]:
        """Create, or on 409 find ours (a retried task): (object, created now)."""
        from kubernetes.client.exceptions import ApiException

        kind, name = body["kind"], body["metadata"]["name"]
        try:
            return self.kube.create(run.namespace, body), True
        except ApiException as exc:
            if exc.status != 409:
                raise KubernetesError(
                    f"creating {kind}/{name} in {run.namespace} failed: {exc.status} {exc.reason}: {api_message(exc)}"
                ) from None
        existing = self.kube.get(kind, run.namespace, name)
        if existing is None:  # deleted between our create and get: one more try, then give up loudly
            return self.kube.create(run.namespace, body), True
        if not self._own(existing, run, arm):
            owner = (existing.get("metadata") or {}).get("labels") or {}
            raise ForeignObjectError(
                f"{kind}/{name} already exists in {run.namespace} and is not ours (run {run.run_id}, arm {arm}); "
                f"its labels: {owner}. Refusing to adopt or replace it."
            )
        return existing, False

    # --- Platform protocol -------------------------------------------------------------------------------
    def provision(self, run: RunContext, resolved: ResolvedSpec, arm: str) -> dict:
        manifests = self.manifests(run, resolved, arm)
        publish_traffic(run, resolved)  # before any GPU is asked for: the load pods fetch the trace from the store
        serving = [m for m in manifests if m["kind"] != "Job"]  # load Jobs run later, one per point x trial
        loads = [m for m in manifests if m["kind"] == "Job"]
        created = []
        for body in serving:
            _, new = self._create(run, arm, body)
            ref = f"{body['kind']}/{body['metadata']['name']}"
            created.append(ref)
            log.info("%s %s in %s", "created" if new else "found existing (retry)", ref, run.namespace)
        workloads = [
            [m["kind"], m["metadata"]["name"]] for m in serving if m["kind"] in ("DynamoGraphDeployment", "Deployment")
        ]
        if not workloads:
            raise KubernetesError(f"arm {arm} renders no DynamoGraphDeployment or Deployment")
        return {
            # the probe checks exactly the URL and model name the load Jobs will use
            "url": load_arg(loads, "--url") or in_cluster_url(serving, run.namespace),
            "model": load_arg(loads, "--model") or served_model(resolved, arm),
            "namespace": run.namespace,
            "workloads": workloads,
            "objects": created,
            "ready_timeout_s": resolved.spec.ready_timeout_s,
            "probe_image": container_image(loads[0]) if loads else settings.probe_image(PROBE_IMAGE),
        }

    def _pod_selector(self, run: RunContext, arm: str) -> str:
        return k.selector(run.labels(arm))

    def wait_ready(self, run: RunContext, resolved: ResolvedSpec | None, arm: str, endpoint: dict) -> dict:
        """Poll until the workloads are ready (or fail fast), then probe /v1/models from inside the cluster."""
        deadline = time.time() + endpoint["ready_timeout_s"]

        def look():
            return ready_outcome(self.kube, endpoint["namespace"], endpoint["workloads"],
                                 self._pod_selector(run, arm), self.restart_budget, deadline)

        return self.finish_ready(run, arm, endpoint, poll(look, self.poll_interval, log))

    def begin_ready(self, run: RunContext, arm: str, endpoint: dict) -> Deferral:
        return Deferral(self.ready_trigger(run, arm, endpoint))

    def ready_trigger(self, run: RunContext, arm: str, endpoint: dict) -> ArmReadyTrigger:
        """The same wait as wait_ready, as a trigger: the task defers and holds no worker slot meanwhile."""
        return ArmReadyTrigger(
            conn_id=self.kube.conn_id,
            namespace=endpoint["namespace"],
            workloads=endpoint["workloads"],
            pod_selector=self._pod_selector(run, arm),
            restart_budget=self.restart_budget,
            deadline=time.time() + endpoint["ready_timeout_s"],
            poll_interval=self.poll_interval,
        )

    def finish_ready(self, run: RunContext, arm: str, endpoint: dict, event: dict) -> dict:
        """Turn a readiness verdict (from the loop or the trigger) into an error or a served-model probe."""
        state = event["state"]
        if state == "failed":
            detail = k.describe_pods(self.kube, endpoint["namespace"], event.get("bad_pods") or [])
            raise KubernetesError(f"arm {arm} of run {run.run_id} failed to start: {event['message']}\n{detail}".rstrip())
        if state == "timeout":
            detail = k.describe_pods(self.kube, endpoint["namespace"], self._unready_pods(run, arm, endpoint))
            raise KubernetesError(
                f"arm {arm} of run {run.run_id} not ready after {endpoint['ready_timeout_s']} s "
                f"(spec ready_timeout_s): {event['message']}\n{detail}".rstrip()
            )
        if state != "ready":
            raise KubernetesError(f"unexpected readiness event {event!r}")
        self.probe(run, arm, endpoint)
        return endpoint

    def _unready_pods(self, run: RunContext, arm: str, endpoint: dict) -> list[str]:
        pods = self.kube.list("Pod", endpoint["namespace"], self._pod_selector(run, arm))
        names = []
        for pod in pods:
            ready = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
            if not ready or ready[0].get("status") != "True":
                names.append(pod["metadata"]["name"])
        return names

    def probe(self, run: RunContext, arm: str, endpoint: dict) -> None:
        """GET /v1/models from a pod in the cluster (same network path as the load), never a port-forward."""
        name = f"fb-probe-{arm}-{text_hash(run.run_id)}"[:63].rstrip("-")
        body = probe_job(name, endpoint["namespace"], run.labels(arm), endpoint["url"], endpoint["model"],
                         endpoint["probe_image"], self.probe_timeout_s)
        self._run_job(run, arm, body, timeout_s=self.probe_timeout_s + 120, rerun_complete=True)  # re-probe now
        log.info("arm %s serves %s at %s", arm, endpoint["model"], endpoint["url"])

    def load_job(self, run: RunContext, resolved: ResolvedSpec, arm: str, point: str, trial: int) -> dict:
        jobs = [
            m for m in self.manifests(run, resolved, arm)
            if m["kind"] == "Job"
            and m["metadata"]["labels"].get(k.POINT_LABEL) == point
            and m["metadata"]["labels"].get(k.TRIAL_LABEL) == str(trial)
        ]
        if len(jobs) != 1:
            raise KubernetesError(
                f"expected one load Job labelled {k.POINT_LABEL}={point}, {k.TRIAL_LABEL}={trial} for arm {arm}, "
                f"recipes rendered {len(jobs)}"
            )
        return jobs[0]

    def run_load(
        self, run: RunContext, resolved: ResolvedSpec, arm: str, endpoint: dict, point: str, trial: int
    ) -> Path:
        """Run the AIPerf Job for (point, trial) in the cluster; it uploads its artifacts to the results store
        (no data through XCom); download them to the run's work folder for the shared ingestion.
        begin_load + finish_load with the wait in this task."""
        started = self._start_or_reuse(run, resolved, arm, point, trial)
        if isinstance(started, Path):
            return started
        self.wait_job(run.namespace, started["job"], started["timeout_s"])
        return self.collect_load(run, arm, point, trial)

    def begin_load(self, run: RunContext, resolved: ResolvedSpec, arm: str, point: str, trial: int) -> Path | Deferral:
        started = self._start_or_reuse(run, resolved, arm, point, trial)
        if isinstance(started, Path):
            return started
        return Deferral(self.load_trigger(run.namespace, started),
                        {"job_name": started["job"], "timeout_s": started["timeout_s"]})

    def finish_load(self, run: RunContext, arm: str, point: str, trial: int, event: dict, job_name: str,
                    timeout_s: float) -> Path:
        if event.get("status") != "complete":
            raise self.job_error(run.namespace, job_name, event, timeout_s)
        return self.collect_load(run, arm, point, trial)

    def _start_or_reuse(self, run: RunContext, resolved: ResolvedSpec, arm: str, point: str,
                        trial: int) -> Path | dict:
        """The one rule for a load on retry: start the Job of (point, trial), or reattach to ours from an earlier
        attempt. The artifacts when an earlier attempt's Job finished and left complete ones; else the started
        Job to wait for (start_load; a finished one whose artifacts are unusable is run again)."""
        started = self.start_load(run, resolved, arm, point, trial)
        if not started["reused"]:
            return started
        try:
            return self.collect_load(run, arm, point, trial)
        except KubernetesError as exc:
            log.warning("the finished Job of an earlier attempt left unusable artifacts (%s): running it again", exc)
        return self.start_load(run, resolved, arm, point, trial, rerun_complete=True)

    def start_load(self, run: RunContext, resolved: ResolvedSpec, arm: str, point: str, trial: int,
                   rerun_complete: bool = False) -> dict:
        """Create the load Job of (point, trial), or find ours from an earlier attempt (see _start_job).
        Returns {"job": name, "timeout_s": wait budget, "reused": it had already completed}."""
        body = self.load_job(run, resolved, arm, point, trial)
        prefix = artifacts_prefix(run.benchmark, run.date, run.run_id, arm, point, trial)

        def fresh_start() -> None:  # no file of an earlier attempt may mix with the new run's
            store_for(run.results_root).delete_prefix(prefix)

        reused = self._start_job(run, arm, body, rerun_complete=rerun_complete, before_create=fresh_start)
        timeout = (body["spec"].get("activeDeadlineSeconds") or DEFAULT_LOAD_TIMEOUT_S) + 300
        return {"job": body["metadata"]["name"], "timeout_s": timeout, "reused": reused}

    def collect_load(self, run: RunContext, arm: str, point: str, trial: int) -> Path:
        """The finished Job's artifacts, from the store to the run's work folder; refuses unfinished ones."""
        prefix = artifacts_prefix(run.benchmark, run.date, run.run_id, arm, point, trial)
        dest = run.work_dir / "artifacts" / arm / point / f"trial={trial}"
        download(run.results_root, prefix, dest)
        check_artifacts(dest, f"{run.results_root.rstrip('/')}/{prefix}")
        return dest

    def load_trigger(self, namespace: str, started: dict) -> LoadJobTrigger:
        """The wait of wait_job, as a trigger: a load Job runs up to hours without holding a worker slot."""
        return LoadJobTrigger(
            conn_id=self.kube.conn_id, namespace=namespace, job_name=started["job"],
            deadline=time.time() + started["timeout_s"], restart_budget=self.restart_budget,
            poll_interval=self.poll_interval,
        )

    def job_error(self, namespace: str, name: str, event: dict, timeout_s: float | None = None) -> KubernetesError:
        """A failed or timed-out Job (event of job_status or LoadJobTrigger) as an error with its pods' events
        and logs."""
        pods = [p["metadata"]["name"] for p in self.kube.list("Pod", namespace, k.selector({"job-name": name}))]
        detail = k.describe_pods(self.kube, namespace, pods)
        if event["status"] == "timeout":
            budget = f" after {timeout_s:.0f} s" if timeout_s is not None else ""
            return KubernetesError(f"Job {name} not finished{budget}: {event['message']}\n{detail}".rstrip())
        return KubernetesError(f"Job {name} failed: {event['message']}\n{detail}".rstrip())

    def _run_job(self, run: RunContext, arm: str, body: dict, timeout_s: float, rerun_complete: bool,
                 before_create: Callable[[], None] = lambda: None) -> bool:
        """Create the Job (or find ours from an earlier attempt) and wait for it to succeed.
        Returns True when it reused a Job that had already completed."""
        reused = self._start_job(run, arm, body, rerun_complete, before_create)
        self.wait_job(run.namespace, body["metadata"]["name"], timeout_s)
        return reused

    def _start_job(self, run: RunContext, arm: str, body: dict, rerun_complete: bool,
                   before_create: Callable[[], None] = lambda: None) -> bool:
        """Create the Job, or find ours from an earlier attempt: a running one is waited for, a failed one (or a
        complete one when rerun_complete) replaced. Returns True when it reuses a Job that already completed."""
        ns, name = run.namespace, body["metadata"]["name"]
        existing = self.kube.get("Job", ns, name)
        if existing is None:
            before_create()
        job, new = self._create(run, arm, body)
        state = job_state(job)
        reused = not new and state == "complete" and not rerun_complete
        if not new and (state == "failed" or (rerun_complete and state == "complete")):
            log.info("Job %s from an earlier attempt is %s: replacing it", name, state)
            self.kube.delete("Job", ns, name)
            self._wait_gone("Job", ns, name)
            before_create()
            self._create(run, arm, body)
        elif not new:
            log.info("Job %s from an earlier attempt is %s: %s", name, state,
                     "using its result" if reused else "waiting for it")
        return reused

    def wait_job(self, namespace: str, name: str, timeout_s: float) -> None:
        """Poll the Job until it completes; raise with its pods' events and logs if it fails or times out.
        Same rule as LoadJobTrigger: job_outcome."""
        deadline = time.time() + timeout_s

        def look():
            return job_outcome(self.kube, namespace, name, self.restart_budget, deadline)

        event = poll(look, self.poll_interval, log)
        if event["status"] != "complete":
            raise self.job_error(namespace, name, event, timeout_s)

    def _wait_gone(self, kind: str, ns: str, name: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while self.kube.get(kind, ns, name) is not None:
            if time.monotonic() > deadline:
                raise KubernetesError(f"{kind}/{name} still exists {timeout_s:.0f} s after deleting it")
            time.sleep(min(self.poll_interval, 2))

    def teardown(self, run: RunContext, arm: str) -> list[str]:
        """Delete every kind we may create, found by run id + arm label; safe when nothing exists."""
        return self._delete_matching(run.namespace, k.selector({k.RUN_LABEL: run.run_id, k.ARM_LABEL: arm}))

    def _delete_matching(self, namespace: str, sel: str, keep: Callable[[dict], bool] = lambda o: False) -> list[str]:
        removed, errors = [], []
        for kind in k.TEARDOWN_ORDER:
            try:
                objs = self.kube.list(kind, namespace, sel)
            except Exception as exc:  # noqa: BLE001 - keep deleting the other kinds, report at the end
                errors.append(f"listing {kind}: {exc}")
                continue
            for obj in objs:
                name = obj["metadata"]["name"]
                if keep(obj) or (obj["metadata"].get("deletionTimestamp") and kind == "Pod"):
                    continue
                try:
                    if self.kube.delete(kind, namespace, name):
                        removed.append(f"{kind}/{name}")
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"deleting {kind}/{name}: {exc}")
        if errors:
            raise KubernetesError(f"cleanup of {sel} in {namespace} left objects behind (removed {removed}): {errors}")
        return removed

    def janitor(self, ttl: dt.timedelta, dry_run: bool = False, namespace: str | None = None,
                now: dt.datetime | None = None) -> list[str]:
        """Objects carrying our run label and older than `ttl` (leaks of crashed runs); deleted unless dry_run.
        Objects with an owner (Job pods, operator children) are left to their owner's cascade."""
        namespace = namespace or settings.k8s_namespace()
        now = now or dt.datetime.now(dt.UTC)
        limit = ttl.total_seconds()

        def fresh(obj: dict) -> bool:
            return k.age_seconds(obj, now) <= limit

        if not dry_run:
            return self._delete_matching(namespace, k.RUN_LABEL, keep=lambda o: fresh(o) or _owned(o))
        expired = []
        for kind in k.TEARDOWN_ORDER:
            for obj in self.kube.list(kind, namespace, k.RUN_LABEL):
                if not fresh(obj) and not _owned(obj):
                    run_id = obj["metadata"].get("labels", {}).get(k.RUN_LABEL)
                    expired.append(f"{kind}/{obj['metadata']['name']}")
                    log.info("would delete %s/%s (run %s, %.1f h old)", kind, obj["metadata"]["name"], run_id,
                             k.age_seconds(obj, now) / 3600)
        return expired


def _owned(obj: dict) -> bool:
    """Made by a controller (Job pods, operator children): it goes when its owner goes."""
    return bool((obj.get("metadata") or {}).get("ownerReferences"))

