"""An arm as a DynamoGraphDeployment (frontend + worker services), its engine ConfigMap and ComputeDomain."""

from __future__ import annotations

import yaml

from featurebench.recipes.names import HF_TOKEN_SECRET
from featurebench.recipes.pods import _command, _container_extras, _cpu_mem, _env, _pod_spec
from featurebench.recipes.pools import Pool
from featurebench.recipes.sandbox import render_template
from featurebench.run import RunContext
from featurebench.spec import Arm, Worker

ENGINE_MODULE = {"vllm": "dynamo.vllm", "trtllm": "dynamo.trtllm", "sglang": "dynamo.sglang"}


CD_CLAIM = "compute-domain-channel"


def _frontend(arm: Arm, run: RunContext) -> dict:
    d = arm.deploy
    requests, limits = _cpu_mem(d.frontend_resources)
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {
        "name": "Frontend",
        "component_type": "frontend",
        "sub_component_type": None,
        "replicas": 1,
        "node_count": None,
        "env_from_secret": None,
        "env": _env(d.frontend_env),
        "resources": resources,
        "shared_memory": None,
        "volume_mounts": [{"name": v.pvc, "mountPoint": v.mount} for v in d.volumes if v.frontend],
        "command": ["python3", "-m", "dynamo.frontend"],
        "args": ["--router-mode", d.router_mode, *d.frontend_args],
        "pod": _pod_spec(d.pod, gpu_pool=None, run=run, arm=arm.name),
        "container": {},
    }


def _worker(arm: Arm, w: Worker, run: RunContext, *, name: str, pool: Pool) -> dict:
    d = arm.deploy
    pod = d.pod.merged(w.pod)
    gpus = str(w.gpus_per_pod)
    requests, limits = _cpu_mem(w.resources)
    resources: dict = {"requests": {**requests, "gpu": gpus}, "limits": {**limits, "gpu": gpus}}
    if pool.gpu_resource != "nvidia.com/gpu":
        resources["limits"]["gpuType"] = pool.gpu_resource
    if w.resources and w.resources.custom:
        resources["limits"]["custom"] = dict(w.resources.custom)
    pod_spec = _pod_spec(pod, gpu_pool=pool, run=run, arm=arm.name)
    container = _container_extras(pod)
    if d.compute_domain:
        resources["claims"] = [{"name": CD_CLAIM}]
        pod_spec["resourceClaims"] = [{"name": CD_CLAIM, "resourceClaimTemplateName": f"{name}-cd-channel"}]
    if w.config_file:
        pod_spec["volumes"] = [{"name": "engine-config", "configMap": {"name": f"{name}-config"}}]
        container["volumeMounts"] = [{"name": "engine-config", "mountPath": "/config", "readOnly": True}]
    return {
        "name": w.name,
        "component_type": "worker",
        "sub_component_type": w.role if w.role in ("prefill", "decode") else None,
        "replicas": w.replicas,
        "node_count": w.nodes_per_replica if w.nodes_per_replica > 1 else None,
        "env_from_secret": HF_TOKEN_SECRET if d.needs_hf_token else None,
        "env": _env(w.env),
        "resources": resources,
        "shared_memory": w.shared_memory,
        "volume_mounts": [
            {"name": v.pvc, "mountPoint": v.mount, **({"useAsCompilationCache": True} if v.compilation_cache else {})}
            for v in d.volumes
        ],
        "command": _command(["python3", "-m", ENGINE_MODULE[d.backend]], pod),
        "args": list(w.args),
        "pod": pod_spec,
        "container": container,
    }


def _render_dynamo(arm: Arm, run: RunContext, *, name: str, labels: dict, pool: Pool, image: str) -> list[dict]:
    d = arm.deploy
    docs: list[dict] = []
    if d.compute_domain:
        docs += render_template("compute-domain.yaml.j2", {
            "name": f"{name}-cd", "namespace": run.namespace, "labels": labels,
            "channel_template": f"{name}-cd-channel",
        })
    files = {w.config_file: yaml.safe_dump(w.engine_config, sort_keys=False) for w in d.workers if w.config_file}
    if files:
        docs += render_template("engine-config.yaml.j2", {
            "name": f"{name}-config", "namespace": run.namespace, "labels": labels, "files": files,
        })
    docs += render_template("dynamo-graph.yaml.j2", {
        "name": name,
        "namespace": run.namespace,
        "labels": labels,
        "backend": d.backend,
        "image": image,
        "pvcs": list(dict.fromkeys(v.pvc for v in d.volumes)),
        "env": _env(d.env),
        "services": [_frontend(arm, run), *[_worker(arm, w, run, name=name, pool=pool) for w in d.workers]],
    })
    return docs
