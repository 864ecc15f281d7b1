"""The kubernetes platform: an arm is the objects recipes.render_arm renders (a DynamoGraphDeployment or a vLLM
Deployment + Service, ConfigMaps), created through the Airflow Kubernetes connection; load runs as AIPerf Jobs
inside the cluster that write their artifacts to the results store; teardown deletes by label.

What the DAG builder uses besides the Platform protocol:
  - `WaitArmReadyOperator` / `KubernetesPlatform.ready_trigger` + `finish_ready`: wait without a worker slot;
  - `RunLoadOperator` / `LoadJobTrigger`: the same for each load Job (start_load, defer, collect_load);
  - `pool_for(resolved, gpu_type)` and `pools_json()`: Airflow pools sized in GPUs, from include/recipes/pools.yaml;
  - `KubernetesPlatform.janitor(ttl, dry_run)`: reap labelled objects older than a TTL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from featurebench import kube as k
from featurebench.layout import artifacts_prefix, traffic_key
from featurebench.run import RunContext
from featurebench.spec import REPO_ROOT, ResolvedSpec

log = logging.getLogger(__name__)

POOLS_FILE = REPO_ROOT / "include" / "recipes" / "pools.yaml"
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
READY_MARKER = ".aiperf_results_ready.json"  # AIPerf writes it when its results are final
DEFAULT_LOAD_TIMEOUT_S = 6 * 3600  # a load Job without activeDeadlineSeconds
PROBE_TIMEOUT_S = 600
PROBE_IMAGE = "python:3.12-slim"  # only when an arm renders no load Job whose (AIPerf, Python) image we can reuse
TRIGGER_CLASSPATH = "featurebench.platforms.kubernetes.ArmReadyTrigger"
LOAD_TRIGGER_CLASSPATH = "featurebench.platforms.kubernetes.LoadJobTrigger"

# Runs in the probe pod (the load image has python3): is the model listed by /v1/models at the in-cluster URL?
PROBE_SCRIPT = """
import json, sys, time, urllib.request
url, model, deadline = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
last = "no answer yet"
while time.time() < deadline:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/v1/models", timeout=10) as r:
            ids = [m.get("id") for m in json.load(r).get("data", [])]
        if model in ids:
            print("serving", model, flush=True)
            sys.exit(0)
        last = "models listed: %s" % ids
    except Exception as exc:
        last = "%s: %s" % (type(exc).__name__, exc)
    print(last, flush=True)
    time.sleep(5)
print("model %s not served at %s: %s" % (model, url, last), flush=True)
sys.exit(1)
"""


class KubernetesError(RuntimeError):
    """A deployment, probe or load that failed; the message carries the reason, events and log lines."""


class ForeignObjectError(KubernetesError):
    """An object with our name exists but belongs to another run (or to nobody we know)."""


def _short(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def check_labels(labels: dict[str, str]) -> None:
    bad = {key: v for key, v in labels.items() if len(v) > 63 or not LABEL_VALUE.fullmatch(v)}
    if bad:
        raise KubernetesError(f"not valid Kubernetes label values (max 63 chars, [A-Za-z0-9._-]): {bad}")


def stamp(manifest: dict, labels: dict[str, str], namespace: str) -> dict:
    """The manifest with our labels on the object and on every pod it makes, in the run's namespace."""
    body = json.loads(json.dumps(manifest))  # deep copy; also proves it is plain JSON
    meta = body.setdefault("metadata", {})
    if meta.get("namespace") not in (None, namespace):
        raise KubernetesError(
            f"{body['kind']}/{meta.get('name')} targets namespace {meta['namespace']}, the run uses {namespace}"
        )
    meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    spec = body.get("spec") or {}
    if body["kind"] == "DynamoGraphDeployment":  # spec.labels reach every pod the operator makes
        spec["labels"] = {**(spec.get("labels") or {}), **labels}
    elif "template" in spec:  # Deployment, Job
        tmeta = spec["template"].setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), **labels}
    return body


def served_model(resolved: ResolvedSpec, arm: str) -> str:
    """The id /v1/models lists: --served-model-name if a worker sets it, else the HF id."""
    for worker in resolved.spec.arm(arm).deploy.workers:
        args = list(worker.args)
        if "--served-model-name" in args[:-1]:
            return args[args.index("--served-model-name") + 1]
    return resolved.spec.model.hf_id


def probe_job(
    name: str, namespace: str, labels: dict[str, str], url: str, model: str, image: str, timeout_s: int
) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels, k.ROLE_LABEL: "probe"}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout_s + 60,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": {**labels, k.ROLE_LABEL: "probe"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "probe",
                            "image": image,
                            "command": ["python3", "-c", PROBE_SCRIPT, url, model, str(timeout_s)],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                        }
                    ],
                },
            },
        },
    }


def _job_state(job: dict) -> str:
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
    except Exception as exc:  # noqa: BLE001 - decide below whether it is worth another poll
        if not k.is_transient(exc):
            raise
        log.warning("API error while waiting for Job %s (retrying): %s", name, exc)
        return {"status": "running", "message": f"API error, will retry: {getattr(exc, 'status', '')} {type(exc).__name__}"}
    if job is None:
        return {"status": "failed", "message": "it disappeared while running (deleted by someone else?)"}
    state = _job_state(job)
    if state == "complete":
        return {"status": "complete", "message": f"Job {name} complete"}
    fatal, pending = k.pod_problems(pods, restart_budget)
    if state == "failed" or fatal:
        return {"status": "failed", "message": "; ".join(fatal) or _job_failure(job)}
    return {"status": "running", "message": "; ".join([f"Job {name} running", *pending])}


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
        self.poll_interval = poll_interval or float(os.environ.get("FEATUREBENCH_K8S_POLL_S", "10"))
        self.restart_budget = restart_budget if restart_budget is not None else int(
            os.environ.get("FEATUREBENCH_K8S_RESTART_BUDGET", "3")
        )
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
                    f"creating {kind}/{name} in {run.namespace} failed: {exc.status} {exc.reason}: {_api_message(exc)}"
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
            "url": _load_arg(loads, "--url") or self._url(serving, run.namespace),
            "model": _load_arg(loads, "--model") or served_model(resolved, arm),
            "namespace": run.namespace,
            "workloads": workloads,
            "objects": created,
            "ready_timeout_s": resolved.spec.ready_timeout_s,
            "probe_image": _container_image(loads[0]) if loads else os.environ.get("FEATUREBENCH_PROBE_IMAGE", PROBE_IMAGE),
        }

    @staticmethod
    def _url(serving: list[dict], namespace: str) -> str:
        for m in serving:
            if m["kind"] == "DynamoGraphDeployment":  # the operator's frontend Service, port 8000
                return f"http://{m['metadata']['name']}-frontend.{namespace}.svc.cluster.local:8000"
        for m in serving:
            if m["kind"] == "Service":
                port = ((m.get("spec") or {}).get("ports") or [{}])[0].get("port", 8000)
                return f"http://{m['metadata']['name']}.{namespace}.svc.cluster.local:{port}"
        raise KubernetesError("the arm renders neither a DynamoGraphDeployment nor a Service to send load to")

    def _pod_selector(self, run: RunContext, arm: str) -> str:
        return k.selector(run.labels(arm))

    def check(self, run: RunContext, arm: str, endpoint: dict) -> k.Verdict:
        return k.check_arm(
            self.kube, endpoint["namespace"], [tuple(w) for w in endpoint["workloads"]],
            self._pod_selector(run, arm), self.restart_budget,
        )

    def wait_ready(self, run: RunContext, resolved: ResolvedSpec | None, arm: str, endpoint: dict) -> dict:
        """Poll until the workloads are ready (or fail fast), then probe /v1/models from inside the cluster."""
        timeout = endpoint["ready_timeout_s"]
        deadline = time.monotonic() + timeout
        while True:
            verdict = self.check(run, arm, endpoint)
            if verdict.state != "waiting":
                break
            if time.monotonic() > deadline:
                verdict = k.Verdict("timeout", verdict.message, [])
                break
            log.info("arm %s: %s", arm, verdict.message)
            time.sleep(self.poll_interval)
        return self.finish_ready(run, arm, endpoint, verdict.to_dict())

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
        name = f"fb-probe-{arm}-{_short(run.run_id)}"[:63].rstrip("-")
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
        A retry reattaches to a Job still running, reuses a finished one whose artifacts are complete, and
        re-runs it otherwise. RunLoadOperator does the same in three steps, deferring the wait."""
        started = self.start_load(run, resolved, arm, point, trial)
        self.wait_job(run.namespace, started["job"], started["timeout_s"])
        try:
            return self.collect_load(run, arm, point, trial)
        except KubernetesError as exc:
            if not started["reused"]:
                raise
            log.warning("the finished Job of an earlier attempt left unusable artifacts (%s): running it again", exc)
        started = self.start_load(run, resolved, arm, point, trial, rerun_complete=True)
        self.wait_job(run.namespace, started["job"], started["timeout_s"])
        return self.collect_load(run, arm, point, trial)

    def start_load(self, run: RunContext, resolved: ResolvedSpec, arm: str, point: str, trial: int,
                   rerun_complete: bool = False) -> dict:
        """Create the load Job of (point, trial), or find ours from an earlier attempt (see _start_job).
        Returns {"job": name, "timeout_s": wait budget, "reused": it had already completed}."""
        body = self.load_job(run, resolved, arm, point, trial)
        prefix = artifacts_prefix(run.benchmark, run.date, run.run_id, arm, point, trial)

        def fresh_start() -> None:  # no file of an earlier attempt may mix with the new run's
            _store(run.results_root).delete_prefix(prefix)

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
        state = _job_state(job)
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
        Same rule as LoadJobTrigger: job_status."""
        deadline = time.monotonic() + timeout_s
        while True:
            event = job_status(self.kube, namespace, name, self.restart_budget)
            if event["status"] == "complete":
                return
            if event["status"] == "failed":
                raise self.job_error(namespace, name, event)
            if time.monotonic() > deadline:
                raise self.job_error(namespace, name, {**event, "status": "timeout"}, timeout_s)
            time.sleep(self.poll_interval)

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
        namespace = namespace or os.environ.get("FEATUREBENCH_K8S_NAMESPACE", "featurebench")
        now = now or dt.datetime.now(dt.timezone.utc)
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


def _load_arg(loads: list[dict], flag: str) -> str | None:
    """The value of an AIPerf flag (--url, --model) in the rendered load Jobs' command line."""
    for job in loads:
        container = job["spec"]["template"]["spec"]["containers"][0]
        argv = [*container.get("command", []), *container.get("args", [])]
        if flag in argv[:-1]:
            return argv[argv.index(flag) + 1]
    return None


def _container_image(job: dict) -> str:
    return job["spec"]["template"]["spec"]["containers"][0]["image"]


def _job_failure(job: dict) -> str:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return f"{cond.get('reason', '')}: {cond.get('message', '')}"
    return "failed"


def _api_message(exc) -> str:
    try:
        return json.loads(exc.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        return str(exc.body or "")[:300]


# --- artifacts ---------------------------------------------------------------------------------------------


def _store(results_root: str):
    from featurebench.store import Store

    return Store.from_uri(results_root)


def publish_traffic(run: RunContext, resolved: ResolvedSpec) -> list[str]:
    """Put the run's trace where its load Jobs fetch it (FEATUREBENCH_TRACE_URI): <run>/traffic/<file>, and for a
    multimodal trace every image its rows name, beside it with the same relative paths as under include/traces
    (the load pod inlines them, or serves them to the engine over http). Idempotent: each arm's provision and
    each retry calls it; images already there with the same size are not sent again. Returns the keys sent."""
    from featurebench.load import load_settings
    from featurebench.traces import ensure_trace, image_names, media_mode

    traffic, _, _ = load_settings(resolved, "kubernetes")
    if traffic.kind != "trace":
        return []
    if not run.results_root.startswith("s3://"):
        log.warning("results root %s is not s3://: load pods can read and write it only if it is mounted in them "
                    "at the same path", run.results_root)
    trace = ensure_trace(traffic)
    key = traffic_key(run.benchmark, run.date, run.run_id, traffic.file)
    store = _store(run.results_root)
    store.put_file(trace, key)  # small, and always the verified file of this spec version
    sent = [key]
    if media_mode(traffic):
        base = key.rsplit("/", 1)[0]
        for name in image_names(trace):
            path, image_key = trace.parent / name, f"{base}/{name}"
            if store.size(image_key) != path.stat().st_size:  # images are deterministic: same name, same bytes
                store.put_file(path, image_key)
                sent.append(image_key)
    log.info("traffic for the load pods: %s (%d files sent)", store.uri(key), len(sent))
    return sent


def download(results_root: str, prefix: str, dest: Path) -> Path:
    """Copy the store's files under `prefix` into `dest` (emptied first), streamed: artifacts can be GBs."""
    import pyarrow.fs as pafs

    store = _store(results_root)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if not store.list(prefix):
        raise KubernetesError(f"the load Job finished but wrote nothing under {store.uri(prefix)}")
    pafs.copy_files(f"{store.root}/{prefix.strip('/')}", str(dest), source_filesystem=store.fs,
                    destination_filesystem=pafs.LocalFileSystem())
    return dest


def check_artifacts(folder: Path, where: str) -> None:
    """AIPerf's completion marker says the results are final; refuse partial or cancelled runs."""
    marker = folder / READY_MARKER
    if not marker.exists():
        files = sorted(p.name for p in folder.iterdir())
        raise KubernetesError(f"{where}: no {READY_MARKER}; AIPerf did not finish (files: {files})")
    state = json.loads(marker.read_text())
    if not state.get("ready") or state.get("was_cancelled") or state.get("partial"):
        raise KubernetesError(f"{where}: AIPerf results are not final: {state}")
    if not (folder / "profile_export.jsonl").exists():
        raise KubernetesError(f"{where}: no profile_export.jsonl (per-request records) among the artifacts")


# --- deferrable wait ---------------------------------------------------------------------------------------

from airflow.triggers.base import BaseTrigger, TriggerEvent  # noqa: E402 - after the plain helpers on purpose


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


from airflow.sdk import BaseOperator  # noqa: E402


class WaitArmReadyOperator(BaseOperator):
    """The DAG's wait_ready: on the kubernetes platform it defers to ArmReadyTrigger (no worker slot while the
    deployment starts), then probes /v1/models in the cluster; on any other platform it waits synchronously
    (featurebench.tasks.wait_ready). `run` and `endpoint` are templated: pass the XComArgs."""

    template_fields = ("run", "endpoint")

    def __init__(self, *, run: Any, arm: str, endpoint: Any, **kwargs):
        super().__init__(**kwargs)
        self.run, self.arm, self.endpoint = run, arm, endpoint

    def execute(self, context):
        run = RunContext.from_dict(self.run)
        if run.platform != "kubernetes":
            from featurebench import tasks

            return tasks.wait_ready(self.run, self.arm, self.endpoint)
        trigger = KubernetesPlatform().ready_trigger(run, self.arm, self.endpoint)
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context, event: dict) -> dict:
        return KubernetesPlatform().finish_ready(RunContext.from_dict(self.run), self.arm, self.endpoint, event)


class RunLoadOperator(BaseOperator):
    """The DAG's run_load, one (point, trial) `job` per mapped instance. On the kubernetes platform it starts
    the load Job (or reattaches, per KubernetesPlatform.start_load) and defers to LoadJobTrigger, so a trial of
    up to hours holds no worker slot; when the trigger fires it downloads the artifacts and ingests them
    (featurebench.tasks.ingest_load). On any other platform it runs synchronously (featurebench.tasks.run_load).
    `run`, `endpoint` and `job` are templated: pass the XComArgs; `job` is what .expand() maps over."""

    template_fields = ("run", "endpoint", "job")

    def __init__(self, *, run: Any, arm: str, endpoint: Any, job: Any, **kwargs):
        super().__init__(**kwargs)
        self.run, self.arm, self.endpoint, self.job = run, arm, endpoint, job

    def execute(self, context):
        from featurebench import tasks

        run = RunContext.from_dict(self.run)
        if run.platform != "kubernetes":
            return tasks.run_load(self.run, self.arm, self.endpoint, self.job)
        p = KubernetesPlatform()
        point, trial = self.job["point"], self.job["trial"]
        started = p.start_load(run, tasks.resolved_for(run), self.arm, point, trial)
        if started["reused"]:  # finished in an earlier attempt: take its artifacts if they are complete
            try:
                return tasks.ingest_load(self.run, self.arm, self.job, p.collect_load(run, self.arm, point, trial))
            except KubernetesError as exc:
                log.warning("the finished Job of an earlier attempt left unusable artifacts (%s): running it again",
                            exc)
            started = p.start_load(run, tasks.resolved_for(run), self.arm, point, trial, rerun_complete=True)
        self.defer(trigger=p.load_trigger(run.namespace, started), method_name="execute_complete",
                   kwargs={"job_name": started["job"], "timeout_s": started["timeout_s"]})

    def execute_complete(self, context, event: dict, job_name: str, timeout_s: float) -> dict:
        from featurebench import tasks

        run = RunContext.from_dict(self.run)
        p = KubernetesPlatform()
        if event.get("status") != "complete":
            raise p.job_error(run.namespace, job_name, event, timeout_s)
        artifacts = p.collect_load(run, self.arm, self.job["point"], self.job["trial"])
        return tasks.ingest_load(self.run, self.arm, self.job, artifacts)


# --- capacity ----------------------------------------------------------------------------------------------


def load_pools(path: Path = POOLS_FILE) -> dict[str, dict]:
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    pools = data.get("pools", data)
    if not isinstance(pools, dict) or not pools:
        raise KubernetesError(f"{path}: expected a mapping of GPU pools under `pools:`")
    return pools


def airflow_pool_name(pool: str, entry: dict | None = None) -> str:
    """pools.yaml may name the Airflow pool (`airflow_pool`); the default matches dag_builder.gpu_pool."""
    return (entry or {}).get("airflow_pool") or f"gpu_{pool}"


def _pool_gpus(name: str, pool: dict) -> int:
    if isinstance(pool.get("gpus"), int) and pool["gpus"] > 0:
        return pool["gpus"]
    raise KubernetesError(f"GPU pool {name!r} in pools.yaml has no positive `gpus` size")


def pool_for(resolved: ResolvedSpec, gpu_type: str | None = None, arm: str | None = None,
             pools_file: Path = POOLS_FILE) -> tuple[str, int]:
    """(Airflow pool, pool_slots) for an arm's tasks: one Airflow pool per GPU pool, one slot per GPU, so
    concurrent runs never ask a pool for more GPUs than it has. Slots: the arm's GPUs (default: the spec's
    per-arm budget, hardware.gpus)."""
    hardware = resolved.spec.hardware
    pool = hardware.pool_for(gpu_type)
    pools = load_pools(pools_file)
    if pool not in pools:
        raise KubernetesError(f"GPU pool {pool!r} (spec {resolved.spec.id}) is not in {pools_file}: {sorted(pools)}")
    entry = pools[pool]
    types = entry.get("gpu_types") or []
    if gpu_type and types and gpu_type not in types:
        raise KubernetesError(f"GPU pool {pool!r} has {types}, not {gpu_type}")
    slots = resolved.spec.arm(arm).gpus if arm else hardware.gpus
    size = _pool_gpus(pool, entry)
    if slots > size:
        raise KubernetesError(f"{resolved.spec.id} needs {slots} GPUs per arm; pool {pool!r} has {size}")
    return airflow_pool_name(pool, entry), slots


def pools_json(pools_file: Path = POOLS_FILE) -> dict[str, dict]:
    """`airflow pools import` input. include_deferred: a deferred wait_ready still counts its GPUs."""
    return {
        airflow_pool_name(name, pool): {
            "slots": _pool_gpus(name, pool),
            "description": f"GPU pool {name} ({', '.join(pool.get('gpu_types') or ['?'])}): one slot per GPU",
            "include_deferred": True,
        }
        for name, pool in sorted(load_pools(pools_file).items())
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m featurebench.platforms.kubernetes")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pools-json", help="write Airflow pools (one per GPU pool, sized in GPUs) as JSON")
    p.add_argument("--pools", type=Path, default=POOLS_FILE)
    p.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    text = json.dumps(pools_json(args.pools), indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
