"""A fake Kubernetes API server at the HTTP level, for driving the REAL kubernetes client (and Airflow's
KubernetesHook) in tests. It listens on 127.0.0.1 (free port, threaded) and serves what the platform uses:

- create / get / list (labelSelector, fieldSelector) / merge-patch / delete of namespaced pods, services,
  configmaps, persistentvolumeclaims, events, pods/log (core), deployments (apps), jobs (batch) and
  dynamographdeployments (nvidia.com/v1alpha1), computedomains (resource.nvidia.com/v1beta1), with the API's
  JSON shapes: Status objects for errors
  (409 AlreadyExists, 404 NotFound, 500 InternalError), List kinds, uid/resourceVersion/generation/
  creationTimestamp, ownerReferences and garbage collection (a Job's API default is to ORPHAN its pods, as on
  a real cluster, so a delete without propagationPolicy leaks them);
- a scripted "operator" and "kubelet": a DGD gets a frontend Service and one pod per replica and turns Ready
  after N polls (GETs of it); a Deployment becomes Available; a Job gets a pod and completes after N polls,
  when the "load pod" does its work through `on_job_complete(job)` (e.g. writes AIPerf artifacts to the store);
- injected faults: an HTTP error on the n-th matching request, never Ready, DGD state failed, crash loop with
  rising restart counts + BackOff events + logs, image pull errors, a failing Job.

Every request is recorded as (verb, group, resource) so a test can check the RBAC Role covers it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

# (group, plural) -> (kind, apiVersion, has generation)
RESOURCES = {
    ("", "pods"): ("Pod", "v1", False),
    ("", "services"): ("Service", "v1", False),
    ("", "configmaps"): ("ConfigMap", "v1", False),
    ("", "persistentvolumeclaims"): ("PersistentVolumeClaim", "v1", False),
    ("", "events"): ("Event", "v1", False),
    ("apps", "deployments"): ("Deployment", "apps/v1", True),
    ("batch", "jobs"): ("Job", "batch/v1", True),
    ("nvidia.com", "dynamographdeployments"): ("DynamoGraphDeployment", "nvidia.com/v1alpha1", True),
    ("resource.nvidia.com", "computedomains"): ("ComputeDomain", "resource.nvidia.com/v1beta1", True),
}
VERSIONS = {"": "v1", "apps": "v1", "batch": "v1", "nvidia.com": "v1alpha1", "resource.nvidia.com": "v1beta1"}
CUSTOM_GROUPS = {"nvidia.com", "resource.nvidia.com"}
PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
Key = tuple[str, str, str, str]  # group, plural, namespace, name


def _ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "details": details or {}, "code": code}


def match_labels(labels: dict, selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field(obj: dict, path: str):
    for part in path.split("."):
        obj = (obj or {}).get(part) if isinstance(obj, dict) else None
    return obj


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.body = status_body(code, reason, message, details)
        self.code = code


@dataclass
class Fault:
    method: str  # POST, GET, DELETE, PATCH
    plural: str | None  # None: any resource
    status: int = 500
    after: int = 0  # let this many matching requests through first
    times: int = 1
    seen: int = 0


class FakeKube:
    def __init__(self, namespace: str = "featurebench"):
        self.namespace = namespace
        self.lock = threading.RLock()
        self.objects: dict[Key, dict] = {}
        self.polls: dict[str, int] = {}  # uid -> GETs so far (the scripted clock)
        self.logs: dict[tuple[str, str], dict[str, list[str]]] = {}  # (pod, container) -> {current, previous}
        self.requests: list[tuple[str, str, str]] = []  # (verb, group, resource[/sub])
        self.faults: list[Fault] = []
        self._rv = itertools.count(1000)
        # scripted behaviour
        self.ready_after = 2  # polls of a DGD / Deployment before it is Ready
        self.job_done_after = 2  # polls of a Job before it finishes
        self.never_ready = False
        self.dgd_fails = False  # the operator reports state: failed
        self.crash_loop: str | None = None  # DGD service (or "*") whose pods crash, restartCount +1 per poll
        self.image_pull: str | None = None  # DGD service (or "*", or "job") whose image cannot be pulled
        self.on_job_complete: Callable[[dict], bool | None] | None = None  # the load pod's work; False = fails
        self.load_runs: list[dict] = []  # what aiperf_uploader's pods ran
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> FakeKube:
        fake = self

        class Handler(_Handler):
            kube = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-k8s", daemon=True)
        self.thread.start()
        return self

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self) -> dict:
        """A kubeconfig dict pointing at this server (no credentials: the fake does not authenticate)."""
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": self.namespace}}],
        }

    def connection_env(self, conn_id: str = "kubernetes_default") -> dict[str, str]:
        """Env vars that make an Airflow connection (and so KubernetesHook) talk to this server."""
        conn = {"conn_type": "kubernetes", "extra": {"kube_config": self.kubeconfig(), "namespace": self.namespace}}
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn), "FEATUREBENCH_K8S_CONN_ID": conn_id}

    # --- test helpers ----------------------------------------------------------------------------------
    def fail(self, method: str, plural: str | None = None, status: int = 500, after: int = 0, times: int = 1) -> None:
        self.faults.append(Fault(method, plural, status, after, times))

    def find(self, kind: str | None = None, selector: str = "") -> list[dict]:
        with self.lock:
            return [
                o for o in self.objects.values()
                if (kind is None or o["kind"] == kind) and match_labels(o["metadata"].get("labels") or {}, selector)
            ]

    def labelled(self, label: str = "featurebench/run-id") -> list[str]:
        """Every object carrying our label (events carry none): what teardown must leave at zero."""
        return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in self.find(selector=label))

    def aiperf_uploader(self, results_root: str, artifacts: str | Path) -> None:
        """Make every load Job's pod do what the load image does: run its entry point, docker/aiperf/fb_load.py,
        with the Job's own command and environment (pod-local paths moved under a temporary folder, `aiperf`
        replaced by tests/fake_aiperf.py, which "produces" the recorded artifact folder `artifacts`). So the
        trace is fetched from FEATUREBENCH_TRACE_URI and the artifacts reach FEATUREBENCH_ARTIFACTS_URI exactly as
        in a cluster. Checks the Job first: the entry point, the store URIs in its env, that the artifact
        folder is pod-local, and that no value in it is a secret (credentials come from the pod's service
        account or an envFrom Secret reference). Probe Jobs just succeed. `load_runs` records each run;
        `results_root` is where the test expects the store to be."""
        import os
        import sys
        import tempfile

        from featurebench.recipes import LOAD_WORK
        from featurebench.results.store import Store

        repo = Path(__file__).resolve().parents[1]
        if str(repo / "docker" / "aiperf") not in sys.path:
            sys.path.insert(0, str(repo / "docker" / "aiperf"))
        import fb_load

        store_uri = Store.from_uri(results_root).uri()

        secrets = [v for key, v in os.environ.items() if re.search(r"SECRET|TOKEN|PASSWORD", key) and len(v) >= 8]

        def run_pod(job: dict) -> bool:
            container = job["spec"]["template"]["spec"]["containers"][0]
            command = [*container.get("command", []), *container.get("args", [])]
            if "--artifact-dir" not in command:
                return True  # not a load Job (e.g. the /v1/models probe)
            assert command[:2] == ["fb-load", "--"], command[:4]
            env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            assert env["FEATUREBENCH_ARTIFACTS_URI"].startswith(store_uri + "/"), env
            commands = fb_load.split_commands(command[1:])  # [warmup runs...,] the measured run
            argv = commands[-1]
            assert all(c[0] == "aiperf" for c in commands), commands
            assert argv[argv.index("--artifact-dir") + 1].startswith(LOAD_WORK + "/"), "artifacts stay in the pod"
            assert ("--input-file" in argv) == ("FEATUREBENCH_TRACE_URI" in env), "a trace run names its trace"
            text = json.dumps(job)
            leaked = [e for e in env if re.match(r"AWS_(SECRET|ACCESS|SESSION)", e)] + [v for v in secrets if v in text]
            assert not leaked, f"secret values in the load Job: {leaked}"
            with tempfile.TemporaryDirectory(prefix="fb-pod-") as pod:
                local = []
                for cmd in commands:
                    cmd = [a.replace(LOAD_WORK, pod, 1) if a.startswith(LOAD_WORK + "/") else a for a in cmd]
                    local += ["--", sys.executable, str(repo / "tests" / "fake_aiperf.py"), str(artifacts), *cmd[1:]]
                # loopback stands in for the downward API's pod IP. A pod owns its ports; here all tests share
                # loopback (two image-serving pods on two xdist workers both wanted 8080), so the image server
                # takes a free port, which fb_load writes into the trace as it does the fixed one.
                pod_env = {**env, "POD_IP": "127.0.0.1"}
                if "FEATUREBENCH_MEDIA_PORT" in pod_env:
                    pod_env["FEATUREBENCH_MEDIA_PORT"] = "0"
                rc = fb_load.main(local, pod_env)
                self.load_runs.append({"job": job["metadata"]["name"], "env": env, "argv": argv, "rc": rc})
            return rc == 0

        self.on_job_complete = run_pod

    def put(self, obj: dict) -> dict:
        """Insert an object as if created at obj.metadata.creationTimestamp (e.g. an old leak)."""
        with self.lock:
            return self._create(*self._key_of(obj), obj, now=obj["metadata"].get("creationTimestamp"))

    def age(self, kind: str, name: str, by: dt.timedelta) -> None:
        with self.lock:
            obj = next(o for o in self.objects.values() if o["kind"] == kind and o["metadata"]["name"] == name)
            created = dt.datetime.fromisoformat(obj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
            obj["metadata"]["creationTimestamp"] = _ts(created - by)

    def _key_of(self, obj: dict) -> tuple[str, str, str]:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        plural = next(p for (g, p), (kind, _, _) in RESOURCES.items() if g == group and kind == obj["kind"])
        return group, plural, obj["metadata"].get("namespace", self.namespace)

    # --- the API ---------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, object]:
        m = PATH.match(path)
        if not m:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        group = "" if m["core"] else m["group"]
        version = m["core"] or m["version"]
        ns, plural, name, sub = m["ns"], m["res"], m["name"], m["sub"]
        if (group, plural) not in RESOURCES or VERSIONS.get(group) != version:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch", "PUT": "update",
                "DELETE": "delete"}[method]
        with self.lock:
            self.requests.append((verb, group, plural + (f"/{sub}" if sub else "")))
            self._inject(method, plural)
            if method == "POST" and not name:
                return 201, self._create(group, plural, ns, body or {})
            if method == "GET" and not name:
                return 200, self._list(group, plural, ns, query)
            if method == "GET" and sub == "log" and plural == "pods":
                return 200, self._log(ns, name, query)
            if method == "GET":
                obj = self._get(group, plural, ns, name)
                if plural in ("dynamographdeployments", "deployments", "jobs"):
                    self._tick(obj)
                return 200, obj
            if method == "PATCH":
                return 200, self._patch(group, plural, ns, name, sub, body or {})
            if method == "DELETE" and name:
                policy = (body or {}).get("propagationPolicy") or (query.get("propagationPolicy") or [None])[0]
                return 200, self._delete(group, plural, ns, name, policy)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")

    def _inject(self, method: str, plural: str) -> None:
        for f in self.faults:
            if f.method == method and f.plural in (None, plural):
                f.seen += 1
                if f.after < f.seen <= f.after + f.times:
                    raise ApiError(f.status, "InternalError" if f.status >= 500 else "Injected",
                                   f"Internal error occurred: injected fault on {method} {plural}")

    def _desc(self, group: str, plural: str) -> str:
        return f"{plural}.{group}" if group else plural

    def _get(self, group, plural, ns, name) -> dict:
        obj = self.objects.get((group, plural, ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{self._desc(group, plural)} "{name}" not found',
                           {"name": name, "group": group, "kind": plural})
        return obj

    def _create(self, group, plural, ns, body, now: str | None = None) -> dict:
        kind, api_version, has_gen = RESOURCES[(group, plural)]
        name = (body.get("metadata") or {}).get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{kind} is invalid: metadata.name: Required value")
        if body.get("kind") not in (None, kind):
            raise ApiError(400, "BadRequest", f"the body kind {body.get('kind')} does not match {kind}")
        if (group, plural, ns, name) in self.objects:
            raise ApiError(409, "AlreadyExists", f'{self._desc(group, plural)} "{name}" already exists',
                           {"name": name, "group": group, "kind": plural})
        obj = json.loads(json.dumps(body))
        obj.update(apiVersion=api_version, kind=kind)
        meta = obj.setdefault("metadata", {})
        meta.update(namespace=ns, uid=str(uuid.uuid4()), resourceVersion=str(next(self._rv)),
                    creationTimestamp=now or _ts(dt.datetime.now(dt.UTC)))
        if has_gen:
            meta["generation"] = 1
        obj.setdefault("status", {})
        self.objects[(group, plural, ns, name)] = obj
        self.polls[meta["uid"]] = 0
        if kind == "DynamoGraphDeployment":
            self._operator(obj)
        elif kind == "Deployment":
            labels = ((obj["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
            for i in range(obj["spec"].get("replicas", 1)):
                self._pod(obj, f"{name}-{uuid.uuid4().hex[:5]}-{i}", labels, "main")
        elif kind == "Job":
            labels = {**((obj["spec"]["template"].get("metadata") or {}).get("labels") or {}),
                      "job-name": name, "batch.kubernetes.io/job-name": name,
                      "controller-uid": meta["uid"], "batch.kubernetes.io/controller-uid": meta["uid"]}
            container = obj["spec"]["template"]["spec"]["containers"][0]["name"]
            self._pod(obj, f"{name}-{uuid.uuid4().hex[:5]}", labels, container, role="job")
            obj["status"] = {"active": 1, "startTime": meta["creationTimestamp"], "ready": 0}
        return obj

    def _list(self, group, plural, ns, query) -> dict:
        kind, api_version, _ = RESOURCES[(group, plural)]
        sel = (query.get("labelSelector") or [""])[0]
        fields = [t.split("=", 1) for t in (query.get("fieldSelector") or [""])[0].split(",") if "=" in t]
        items = []
        for (g, p, n, _), obj in sorted(self.objects.items()):
            if (g, p, n) != (group, plural, ns) or not match_labels(obj["metadata"].get("labels") or {}, sel):
                continue
            if any(str(_field(obj, f)) != v for f, v in fields):
                continue
            item = json.loads(json.dumps(obj))
            if group not in CUSTOM_GROUPS:  # built-in lists omit kind/apiVersion on items; custom ones keep them
                item.pop("kind"), item.pop("apiVersion")
            items.append(item)
        return {"kind": f"{kind}List", "apiVersion": api_version,
                "metadata": {"resourceVersion": str(next(self._rv))}, "items": items}

    def _patch(self, group, plural, ns, name, sub, patch) -> dict:
        obj = self._get(group, plural, ns, name)
        if sub == "status":
            obj["status"] = merge_patch(obj.get("status"), patch.get("status", {}))
        else:
            before = json.dumps(obj.get("spec"), sort_keys=True)
            merged = merge_patch(obj, {k: v for k, v in patch.items() if k != "status"})
            obj.clear()
            obj.update(merged)
            if "generation" in obj["metadata"] and json.dumps(obj.get("spec"), sort_keys=True) != before:
                obj["metadata"]["generation"] += 1
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return obj

    def _delete(self, group, plural, ns, name, policy) -> dict:
        obj = self._get(group, plural, ns, name)
        if policy is None:  # the API's own defaults: Jobs orphan their pods, everything else cascades
            policy = "Orphan" if plural == "jobs" else "Background"
        self._remove(obj, policy)
        if plural == "pods":
            return obj
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": group, "kind": plural, "uid": obj["metadata"]["uid"]}}

    def _remove(self, obj: dict, policy: str) -> None:
        uid = obj["metadata"]["uid"]
        self.objects = {k: o for k, o in self.objects.items() if o["metadata"]["uid"] != uid}
        for child in list(self.objects.values()):
            refs = child["metadata"].get("ownerReferences") or []
            if any(r["uid"] == uid for r in refs):
                if policy == "Orphan":
                    child["metadata"]["ownerReferences"] = [r for r in refs if r["uid"] != uid] or None
                    if child["metadata"]["ownerReferences"] is None:
                        del child["metadata"]["ownerReferences"]
                else:
                    self._remove(child, policy)

    def _log(self, ns, name, query) -> str:
        pod = self._get("", "pods", ns, name)
        container = (query.get("container") or [pod["spec"]["containers"][0]["name"]])[0]
        previous = (query.get("previous") or ["false"])[0] in ("1", "t", "T", "true", "True", "TRUE")  # Go ParseBool
        logs = self.logs.get((name, container), {})
        if previous and not logs.get("previous"):
            raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found')
        lines = logs.get("previous" if previous else "current", [])
        tail = int((query.get("tailLines") or [len(lines) or 1])[0])
        return "".join(line + "\n" for line in lines[-tail:])

    # --- the scripted operator, controllers and kubelet ---------------------------------------------------
    def _owner(self, owner: dict) -> list[dict]:
        return [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                 "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]

    def _event(self, pod: dict, reason: str, message: str, etype: str = "Normal", count: int = 1) -> None:
        ns, pod_name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        name = f"{pod_name}.{reason.lower()}"
        now = _ts(dt.datetime.now(dt.UTC))
        existing = self.objects.get(("", "events", ns, name))
        if existing:
            existing.update(count=count, message=message, lastTimestamp=now)
            return
        self.objects[("", "events", ns, name)] = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp": now},
            "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": ns, "uid": pod["metadata"]["uid"],
                               "apiVersion": "v1"},
            "reason": reason, "message": message, "type": etype, "count": count,
            "firstTimestamp": now, "lastTimestamp": now, "source": {"component": "kubelet"},
        }

    def _pod(self, owner: dict, name: str, labels: dict, container: str, role: str = "", image: str = "img") -> dict:
        ns = owner["metadata"]["namespace"]
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels), "ownerReferences": self._owner(owner),
                         "annotations": {"fake/role": role}},
            "spec": {"containers": [{"name": container, "image": image}], "restartPolicy": "Always"},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                       "containerStatuses": [{"name": container, "image": image, "imageID": "", "ready": False,
                                              "restartCount": 0, "started": False,
                                              "state": {"waiting": {"reason": "ContainerCreating"}}}]},
        }
        obj = self._create("", "pods", ns, pod)
        self._event(obj, "Scheduled", f"Successfully assigned {ns}/{name} to gpu-node-1")
        self.logs[(name, container)] = {"current": [f"{name}: starting"], "previous": []}
        return obj

    def _operator(self, dgd: dict) -> None:
        """What the Dynamo operator makes for a DGD: the frontend Service and the pods, labelled with spec.labels."""
        name = dgd["metadata"]["name"]
        labels = {**(dgd["spec"].get("labels") or {}), "nvidia.com/dynamo-graph-deployment-name": name}
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": f"{name}-frontend", "labels": labels, "ownerReferences": self._owner(dgd)},
               "spec": {"ports": [{"name": "http", "port": 8000, "protocol": "TCP"}],
                        "selector": {**labels, "nvidia.com/dynamo-component-type": "frontend"}}}
        self._create("", "services", dgd["metadata"]["namespace"], svc)
        for svc_name, comp in (dgd["spec"].get("services") or {}).items():
            ctype = comp.get("componentType", "worker")
            for i in range(comp.get("replicas", 1)):
                self._pod(dgd, f"{name}-{svc_name.lower()}-{i}",
                          {**labels, "nvidia.com/dynamo-component-type": ctype}, "main", role=svc_name,
                          image=((comp.get("extraPodSpec") or {}).get("mainContainer") or {}).get("image", "img"))
        dgd["status"] = {"state": "pending", "conditions": [
            {"type": "Ready", "status": "False", "reason": "some_resources_are_not_ready",
             "message": "Resources not ready: pods starting", "observedGeneration": 1,
             "lastTransitionTime": dgd["metadata"]["creationTimestamp"]}]}

    def _children(self, owner: dict) -> list[dict]:
        uid = owner["metadata"]["uid"]
        return [o for o in self.objects.values() if o["kind"] == "Pod"
                and any(r["uid"] == uid for r in o["metadata"].get("ownerReferences") or [])]

    def _run_pod(self, pod: dict, ready: bool = True) -> None:
        cs = pod["status"]["containerStatuses"][0]
        cs.update(ready=ready, started=True, state={"running": {"startedAt": _ts(dt.datetime.now(dt.UTC))}})
        pod["status"]["phase"] = "Running"
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"},
                                       {"type": "Ready", "status": "True" if ready else "False"}]
        if not ready:  # running, but its readiness probe keeps failing
            self._event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "Warning")

    def _fault_pod(self, pod: dict, fault: str) -> None:
        cs = pod["status"]["containerStatuses"][0]
        name, image = pod["metadata"]["name"], cs["image"]
        if fault == "image":
            reason = "ErrImagePull" if cs["state"].get("waiting", {}).get("reason") == "ContainerCreating" else "ImagePullBackOff"
            msg = f'Back-off pulling image "{image}"' if reason == "ImagePullBackOff" else \
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found'
            cs["state"] = {"waiting": {"reason": reason, "message": msg}}
            self._event(pod, "Failed", f'Failed to pull image "{image}": not found', "Warning")
        else:  # crash loop: each poll the container died once more
            cs["restartCount"] += 1
            cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
            cs["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                       "message": f"back-off 40s restarting failed container=main pod={name}"}}
            self._event(pod, "BackOff", "Back-off restarting failed container main", "Warning", cs["restartCount"])
            self.logs[(name, cs["name"])] = {
                "previous": ["INFO loading model Qwen/Qwen3-32B", "Traceback (most recent call last):",
                             "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"],
                "current": ["INFO loading model Qwen/Qwen3-32B"],
            }

    def _tick(self, obj: dict) -> None:
        uid = obj["metadata"]["uid"]
        self.polls[uid] = polls = self.polls.get(uid, 0) + 1
        if obj["kind"] == "Job":
            return self._tick_job(obj, polls)
        faulty = self.crash_loop or self.image_pull not in (None, "job")
        for pod in self._children(obj):
            role = pod["metadata"]["annotations"]["fake/role"]
            if self.image_pull in ("*", role):
                self._fault_pod(pod, "image")
            elif self.crash_loop in ("*", role):
                self._fault_pod(pod, "crash")
            elif polls >= self.ready_after:
                self._run_pod(pod, ready=not self.never_ready)
        if obj["kind"] == "DynamoGraphDeployment":
            if self.dgd_fails:
                obj["status"]["state"] = "failed"
                obj["status"]["conditions"][0].update(reason="failed", message="worker VllmDecodeWorker failed: invalid engine args")
            elif polls >= self.ready_after and not self.never_ready and not faulty:
                obj["status"] = {"state": "successful", "observedGeneration": obj["metadata"]["generation"],
                                 "conditions": [{"type": "Ready", "status": "True", "reason": "all_resources_are_ready",
                                                 "message": "All resources are ready",
                                                 "observedGeneration": obj["metadata"]["generation"],
                                                 "lastTransitionTime": _ts(dt.datetime.now(dt.UTC))}]}
        elif obj["kind"] == "Deployment":
            want = obj["spec"].get("replicas", 1)
            ready = polls >= self.ready_after and not self.never_ready and not faulty
            obj["status"] = {"observedGeneration": obj["metadata"]["generation"], "replicas": want,
                             "availableReplicas": want if ready else 0, "readyReplicas": want if ready else 0,
                             "conditions": [{"type": "Available", "status": "True" if ready else "False",
                                             "reason": "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable"},
                                            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}

    def _tick_job(self, job: dict, polls: int) -> None:
        if job["status"].get("succeeded") or job["status"].get("failed"):
            return
        pods = self._children(job)
        if self.image_pull == "job":
            for pod in pods:
                self._fault_pod(pod, "image")
            return
        for pod in pods:
            self._run_pod(pod)
        if polls < self.job_done_after:
            return
        ok = self.on_job_complete(job) if self.on_job_complete else True
        now = _ts(dt.datetime.now(dt.UTC))
        for pod in pods:
            cs = pod["status"]["containerStatuses"][0]
            cs.update(ready=False, state={"terminated": {"exitCode": 0 if ok is not False else 1,
                                                         "reason": "Completed" if ok is not False else "Error"}})
            pod["status"]["phase"] = "Succeeded" if ok is not False else "Failed"
            if ok is False:
                self.logs[(pod["metadata"]["name"], cs["name"])]["current"] += [
                    "aiperf: error: 100% of requests failed (ConnectionRefusedError)"]
        if ok is False:
            job["status"] = {"failed": 1, "startTime": job["status"]["startTime"], "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit", "lastTransitionTime": now},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit", "lastTransitionTime": now}]}
        else:
            job["status"] = {"succeeded": 1, "startTime": job["status"]["startTime"], "completionTime": now,
                             "conditions": [{"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                                            {"type": "Complete", "status": "True", "lastTransitionTime": now}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's urllib3 pool expects
    kube: FakeKube

    def log_message(self, *args) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        parsed = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
            if method == "PATCH" and "json-patch" in (self.headers.get("Content-Type") or ""):
                raise ApiError(415, "UnsupportedMediaType", "the fake serves merge patches only")
            code, out = self.kube.handle(method, parsed.path, parse_qs(parsed.query), body)
        except ApiError as err:
            code, out = err.code, err.body
        except json.JSONDecodeError as err:
            code, out = 400, status_body(400, "BadRequest", f"invalid JSON: {err}")
        data = out.encode() if isinstance(out, str) else json.dumps(out).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(out, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")


@contextlib.contextmanager
def serving(namespace: str = "featurebench", conn_id: str = "kubernetes_default") -> Iterator[FakeKube]:
    """A running fake with this process's env pointing the Airflow connection at it, for whole-DAG tests:

        with serving() as fake:
            fake.aiperf_uploader(results_root, "tests/fixtures/aiperf_mocker_timeouts")
            ... run the DAG with platform=kubernetes (subprocesses inherit the env) ...
            assert fake.labelled() == []
    """
    import os

    fake = FakeKube(namespace).start()
    saved = {key: os.environ.get(key) for key in fake.connection_env(conn_id)}
    os.environ.update(fake.connection_env(conn_id))
    try:
        yield fake
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        fake.stop()
