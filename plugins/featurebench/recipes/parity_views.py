"""The flat parity view of an arm's serving manifests, `{field path: value}` (dgd.*, svc.<Service>.*, engine.*;
see featurebench.recipes.parity), with only the equivalent forms normalised away."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from featurebench.recipes.parity_shell import effective_exec

MISSING = "<absent>"


def flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    """Nested mappings as dotted paths; lists and scalars are leaves (scalars as YAML-equivalent strings)."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}.{key}", out)
    elif value is not None and value != {} and value != []:
        out[prefix] = _scalar(value)
    return out


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    if isinstance(value, dict):
        return {k: _scalar(v) for k, v in value.items()}
    return value


def env_map(items: list[dict] | None) -> dict[str, Any]:
    out = {}
    for item in items or []:
        out[item["name"]] = str(item["value"]) if "value" in item else {"valueFrom": item.get("valueFrom")}
    return out


# Kubernetes defaults: a field set to its default is the same as the field left out.
K8S_DEFAULTS = {"imagePullPolicy": "IfNotPresent", "restartPolicy": "Always", "name": "", "protocol": "TCP"}
PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3,
                  "successThreshold": 1}


def _mounts(mounts: list[dict], volumes: dict[str, dict]) -> dict[str, str]:
    """mountPath -> what is mounted there (PVC claim / sub-path, a ConfigMap, a memory emptyDir), names dropped."""
    out = {}
    for m in mounts:
        path = m.get("mountPath") or m.get("mountPoint")
        vol = volumes.get(m["name"], {"persistentVolumeClaim": {"claimName": m["name"]}})  # DGD: name is the PVC
        if "persistentVolumeClaim" in vol:
            what = f"pvc:{vol['persistentVolumeClaim']['claimName']}" + (f"/{m['subPath']}" if m.get("subPath") else "")
        elif "configMap" in vol:
            what = "configMap"
        elif "emptyDir" in vol:
            e = vol["emptyDir"] or {}
            what = f"emptyDir:{e.get('medium', '')}:{e.get('sizeLimit', '')}"
        else:
            what = json.dumps(vol, sort_keys=True)
        out[path] = what + (":ro" if m.get("readOnly") else "") + (":compilation-cache" if m.get("useAsCompilationCache") else "")
    return out


def pinned_selector(selector: dict | None, pin: str | None) -> dict:
    """A hostname pin to our configured node or to upstream's fill-in placeholder is the same: one pinned node."""
    selector = dict(selector or {})
    host = selector.get("kubernetes.io/hostname")
    if host is not None and (host == pin or re.fullmatch(r"<FILL-IN-[A-Z0-9]+-HOSTNAME>", host)):
        selector["kubernetes.io/hostname"] = "<one pinned node>"
    return selector


def tolerations_view(tolerations: list[dict] | None) -> dict[str, str]:
    """`key=value:effect` -> operator: the order and the defaulted fields of a toleration do not matter."""
    return {f"{t.get('key', '')}={t.get('value', '')}:{t.get('effect', '')}": t.get("operator", "Equal")
            for t in tolerations or []}


def pod_affinity(affinity: dict | None, own: set[str]) -> Any:
    """Pod (anti-)affinity with selectors that name the arm's own pods written as '<arm>'."""
    if not affinity:
        return None
    text = json.dumps(affinity, sort_keys=True)
    out = json.loads(text)
    for kind in out.values():
        for terms in kind.values():
            for term in terms:
                t = term.get("podAffinityTerm", term)
                sel = json.dumps(t.get("labelSelector", {}))
                if any(name in sel for name in own):
                    t["labelSelector"] = "<the arm's pods>"
    return out


def pod_view(prefix: str, *, pod: dict, container: dict, service: dict, own: set[str], pin: str | None,
             out: dict, base_env: dict | None = None) -> None:
    """One pod of the arm under `prefix`: service-level fields, the pod spec and its main container. base_env:
    the DGD's spec.envs, which the operator gives every service (below the service's own)."""
    pod, container, service = dict(pod), dict(container), dict(service)
    for key in ("containers",):  # DGD `containers: null`
        if pod.get(key) is None:
            pod.pop(key, None)
    volumes = {v["name"]: v for v in pod.pop("volumes", []) or []}
    env = {**(base_env or {}), **env_map(service.pop("envs", None)), **env_map(container.pop("env", None))}
    argv, limits = effective_exec([*container.pop("command", []), *container.pop("args", [])],
                                  {k: v if isinstance(v, str) else f"<{k}>" for k, v in env.items()})
    view: dict[str, Any] = {"exec": argv, "ulimit": limits, "env": env}
    mounts = [*service.pop("volumeMounts", []), *container.pop("volumeMounts", [])]
    view["mounts"] = _mounts(mounts, volumes)
    security = {**(pod.pop("securityContext", None) or {}), **(container.pop("securityContext", None) or {})}
    view["security"] = security
    image = container.pop("image", "")
    view["image"] = re.sub(r":[^/:]+$", "", image)
    resources = service.pop("resources", None) or {}
    for key, value in (container.pop("resources", None) or {}).items():
        resources[key] = {**resources.get(key, {}), **value} if isinstance(value, dict) else value
    resources.pop("claims", None)
    for key, value in (resources.get("limits") or {}).items():  # an extended resource's request defaults to its limit
        if "gpu" in key and str((resources.get("requests") or {}).get(key)) == str(value):
            del resources["requests"][key]
    view["resources"] = resources
    view["claims"] = sorted(c["name"] for c in pod.pop("resourceClaims", []) or [])
    view["nodeSelector"] = pinned_selector(pod.pop("nodeSelector", None), pin)
    view["tolerations"] = tolerations_view(pod.pop("tolerations", None))
    view["affinity"] = pod_affinity(pod.pop("affinity", None), own)
    if "multinode" in service:
        view["nodeCount"] = service.pop("multinode").get("nodeCount")
    if "sharedMemory" in service:
        view["sharedMemory"] = (service.pop("sharedMemory") or {}).get("size")
    for key in ("ports",):
        container.pop(key, None)
    view.update({k: v for k, v in service.items()})
    for key in [k for k in container if k.endswith("Probe")]:
        view[key] = {k: v for k, v in container.pop(key).items() if PROBE_DEFAULTS.get(k) != v}
    view["pod"] = {k: v for k, v in pod.items() if K8S_DEFAULTS.get(k, object()) != v}
    view["container"] = {k: v for k, v in container.items() if K8S_DEFAULTS.get(k, object()) != v}
    flatten(view, prefix, out)


def deployment_view(docs: list[dict], *, own: set[str], pin: str | None = None) -> dict[str, Any]:
    """The flat view of an arm's serving manifests (DGD + ConfigMap, or vllm-serve Deployment)."""
    out: dict[str, Any] = {}
    for doc in docs:
        kind = doc.get("kind")
        if kind == "DynamoGraphDeployment":
            spec = dict(doc["spec"])
            spec.pop("labels", None)
            out["dgd.backendFramework"] = spec.pop("backendFramework", MISSING)
            if out["dgd.backendFramework"] is MISSING:
                del out["dgd.backendFramework"]
            base_env = env_map(spec.pop("envs", None))
            out["dgd.pvcs"] = sorted(f"{p['name']}:create={str(p.get('create', False)).lower()}"
                                     for p in spec.pop("pvcs", []) or [])
            for name, svc in spec.pop("services").items():
                svc = dict(svc)
                extra = dict(svc.pop("extraPodSpec", None) or {})
                main = extra.pop("mainContainer", None) or {}
                pod_view(f"svc.{name}", pod=extra, container=main, service=svc, own=own, pin=pin, out=out,
                         base_env=base_env)
            flatten(spec, "dgd", out)
        elif kind == "ConfigMap":
            for key, text in (doc.get("data") or {}).items():
                flatten(yaml.safe_load(text), f"engine.{key}", out)
        elif kind == "Deployment":
            tmpl = doc["spec"]["template"]["spec"]
            (container,) = tmpl["containers"]
            pod = {k: v for k, v in tmpl.items() if k != "containers"}
            dep = {k: v for k, v in doc["spec"].items() if k in ("replicas", "progressDeadlineSeconds", "strategy")}
            pod_view("svc.vllm", pod=pod, container=container, service=dep, own=own, pin=pin,
                     out=out)
    return {k: v for k, v in out.items() if v not in ({}, [], None)}
