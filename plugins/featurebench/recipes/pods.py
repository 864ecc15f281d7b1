"""Pod pieces shared by the DGD and vLLM renderings: env lists, probes, the engine command, placement, security."""

from __future__ import annotations

from featurebench.recipes.pools import Pool
from featurebench.run import RunContext
from featurebench.spec import PodSettings, Probe


def _env(values: dict[str, str]) -> list[dict]:
    return [{"name": k, "value": str(v)} for k, v in values.items()]


def _probe(p: Probe) -> dict:
    return {
        "httpGet": {"path": p.path, "port": p.port},
        "initialDelaySeconds": p.initial_delay_s,
        "periodSeconds": p.period_s,
        "timeoutSeconds": p.timeout_s,
        "failureThreshold": p.failure_threshold,
    }


def _command(base: list[str], pod: PodSettings) -> list[str]:
    if pod.memlock_unlimited:
        # raise the locked-memory limit, then exec the engine with its argv untouched (no shell quoting)
        return ["/bin/sh", "-c", 'ulimit -l unlimited && exec "$@"', "sh", *base]
    return base


def _pod_spec(pod: PodSettings, *, gpu_pool: Pool | None, run: RunContext, arm: str) -> dict:
    """PodSpec-level fields (only those that are set): placement, security, affinity."""
    out: dict = {}
    selector = {**(gpu_pool.node_selector if gpu_pool else {}), **pod.node_selector}
    if selector:
        out["nodeSelector"] = selector
    tolerations = [t.model_dump(exclude_none=True) for t in (gpu_pool.tolerations if gpu_pool else [])]
    tolerations += [t.model_dump(exclude_none=True) for t in pod.tolerations]
    if tolerations:
        out["tolerations"] = tolerations
    if pod.run_as_user is not None:
        out["securityContext"] = {"runAsUser": pod.run_as_user}
    if pod.colocate_workers:
        out["affinity"] = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {
                    **run.labels(arm), "nvidia.com/dynamo-component-type": "worker"}},
            },
        }]}}
    return out


def _container_extras(pod: PodSettings) -> dict:
    out: dict = {}
    if pod.startup_probe:
        out["startupProbe"] = _probe(pod.startup_probe)
    if pod.capabilities:
        out["securityContext"] = {"capabilities": {"add": list(pod.capabilities)}}
    return out


def _cpu_mem(res) -> tuple[dict, dict]:
    requests, limits = {}, {}
    if res is not None:
        for key, value in (("cpu", res.cpu), ("memory", res.memory)):
            if value:
                requests[key] = value
        for key, value in (("cpu", res.cpu_limit), ("memory", res.memory_limit)):
            if value:
                limits[key] = value
    return requests, limits
