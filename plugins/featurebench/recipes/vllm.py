"""An arm as a plain `vllm serve` Deployment + Service (the non-Dynamo baseline arms)."""

from __future__ import annotations

from featurebench.recipes.names import HF_TOKEN_SECRET
from featurebench.recipes.pods import _command, _container_extras, _cpu_mem, _env, _pod_spec, _probe
from featurebench.recipes.pools import Pool
from featurebench.recipes.sandbox import render_template
from featurebench.run import RunContext
from featurebench.spec import Arm


def _render_vllm_serve(arm: Arm, run: RunContext, *, name: str, labels: dict, pool: Pool, image: str) -> list[dict]:
    d = arm.deploy
    w = d.workers[0]
    pod = d.pod.merged(w.pod)
    selector = {**labels, "app.kubernetes.io/name": name}
    pvcs = list(dict.fromkeys(v.pvc for v in d.volumes))
    volumes = [{"name": p, "persistentVolumeClaim": {"claimName": p}} for p in pvcs]
    mounts = [{"name": v.pvc, "mountPath": v.mount, **({"subPath": v.sub_path} if v.sub_path else {})} for v in d.volumes]
    if w.shared_memory:  # /dev/shm as a memory-backed emptyDir, as upstream
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": w.shared_memory}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    requests, limits = _cpu_mem(w.resources)
    gpus = str(w.gpus_per_pod)
    resources = {"requests": {**requests, pool.gpu_resource: gpus},
                 "limits": {**limits, pool.gpu_resource: gpus, **(w.resources.custom if w.resources else {})}}
    return render_template("vllm-serve.yaml.j2", {
        "name": name,
        "namespace": run.namespace,
        "labels": selector,
        "selector": selector,
        "progress_deadline_s": d.serve.progress_deadline_s,
        "pod": _pod_spec(pod, gpu_pool=pool, run=run, arm=arm.name),
        "volumes": volumes,
        "image": image,
        "command": _command(["vllm", "serve"], pod),
        "args": list(w.args),
        "env": _env({**d.env, **w.env}),
        "env_from_secret": HF_TOKEN_SECRET if d.needs_hf_token else None,
        "port": d.serve.port,
        "readiness_probe": _probe(d.serve.readiness_probe),
        "resources": resources,
        "volume_mounts": mounts,
        "container": _container_extras(pod),
    })
