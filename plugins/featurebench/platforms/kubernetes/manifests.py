"""Kubernetes manifests as the platform sends them: our labels stamped on every object and pod, the probe Job
that checks an arm serves its model from inside the cluster, and what the rendered load Jobs tell us (URL, model,
image)."""

from __future__ import annotations

import hashlib
import json

from featurebench.errors import KubernetesError
from featurebench.recipes.names import DGD_FRONTEND_PORT, frontend_service, is_label_value, service_url
from featurebench.run import COMPONENT_LABEL
from featurebench.spec import ResolvedSpec

PROBE_TIMEOUT_S = 600
PROBE_IMAGE = "python:3.12-slim"  # only when an arm renders no load Job whose (AIPerf, Python) image we can reuse

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


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def check_labels(labels: dict[str, str]) -> None:
    bad = {key: v for key, v in labels.items() if not is_label_value(v)}
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
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels, COMPONENT_LABEL: "probe"}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout_s + 60,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": {**labels, COMPONENT_LABEL: "probe"}},
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



def load_arg(loads: list[dict], flag: str) -> str | None:
    """The value of an AIPerf flag (--url, --model) in the rendered load Jobs' command line."""
    for job in loads:
        container = job["spec"]["template"]["spec"]["containers"][0]
        argv = [*container.get("command", []), *container.get("args", [])]
        if flag in argv[:-1]:
            return argv[argv.index(flag) + 1]
    return None


def container_image(job: dict) -> str:
    return job["spec"]["template"]["spec"]["containers"][0]["image"]



def in_cluster_url(serving: list[dict], namespace: str) -> str:
    """Where load goes when no rendered load Job names it: the DGD's frontend Service, else the arm's Service."""
    for m in serving:
        if m["kind"] == "DynamoGraphDeployment":
            return service_url(frontend_service(m["metadata"]["name"]), namespace, DGD_FRONTEND_PORT)
    for m in serving:
        if m["kind"] == "Service":
            port = ((m.get("spec") or {}).get("ports") or [{}])[0].get("port", DGD_FRONTEND_PORT)
            return service_url(m["metadata"]["name"], namespace, port)
    raise KubernetesError("the arm renders neither a DynamoGraphDeployment nor a Service to send load to")
