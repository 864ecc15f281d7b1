"""Kubernetes API access for the kubernetes platform: the kinds we create, one dict-in/dict-out client over
the provider's KubernetesHook, and the readiness rules shared by the polling loop and the deferrable trigger.

Everything here speaks plain dicts (the API's own JSON shape), so the rules can be tested on recorded objects
and the trigger can pass results through Airflow's serialisation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from functools import cached_property

from featurebench import settings
from featurebench.run import ARM_LABEL, COMPONENT_LABEL, POINT_LABEL, RUN_LABEL, TRIAL_LABEL  # noqa: F401 - k.<LABEL>

DEFAULT_CONN_ID = settings.DEFAULT_K8S_CONN_ID
DGD_GROUP, DGD_VERSION, DGD_PLURAL = "nvidia.com", "v1alpha1", "dynamographdeployments"

# Waiting reasons that never heal by themselves: fail at once instead of waiting for the timeout.
FATAL_WAITING = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"}
# API statuses worth another poll (the apiserver or its etcd hiccuped); anything else is a real answer.
TRANSIENT = {429, 500, 502, 503, 504}


def conn_id() -> str:
    return settings.k8s_conn_id()


@dataclass(frozen=True)
class Kind:
    kind: str
    api: str  # core | apps | batch | custom
    plural: str  # REST resource name
    snake: str = ""  # typed-client method suffix: create_namespaced_<snake>
    group: str = ""
    version: str = "v1"


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in [
        Kind("DynamoGraphDeployment", "custom", DGD_PLURAL, group=DGD_GROUP, version=DGD_VERSION),
        # NVIDIA DRA driver's MNNVL domain for multinode GB200 workers (recipes render one per such arm)
        Kind("ComputeDomain", "custom", "computedomains", group="resource.nvidia.com", version="v1beta1"),
        Kind("Deployment", "apps", "deployments", "deployment", "apps"),
        Kind("Job", "batch", "jobs", "job", "batch"),
        Kind("Service", "core", "services", "service"),
        Kind("ConfigMap", "core", "configmaps", "config_map"),
        Kind("PersistentVolumeClaim", "core", "persistentvolumeclaims", "persistent_volume_claim"),
        Kind("Pod", "core", "pods", "pod"),
    ]
}
# Load Jobs first (they use the service), then the workloads, then what they mount; pods last, for any
# the garbage collector has not reached yet.
TEARDOWN_ORDER = [
    "Job", "DynamoGraphDeployment", "Deployment", "ComputeDomain", "Service", "ConfigMap", "PersistentVolumeClaim", "Pod",
]


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def is_transient(exc: BaseException) -> bool:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, ApiException):
        return exc.status in TRANSIENT or exc.status == 0
    return isinstance(exc, (HTTPError, ConnectionError, TimeoutError))


class Kube:
    """The few API calls the platform makes, returning the API's JSON as dicts; 404 is an answer, not an error."""

    def __init__(self, conn_id_: str | None = None, api_client=None):
        self.conn_id = conn_id_ or conn_id()
        self._api_client = api_client

    @cached_property
    def api_client(self):
        if self._api_client is not None:
            return self._api_client
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        # kubeconfig, config dict or in-cluster, as the Airflow connection says; no credentials pass through us
        return KubernetesHook(conn_id=self.conn_id).api_client

    def _api(self, kind: Kind):
        from kubernetes import client

        cls = {
            "core": client.CoreV1Api,
            "apps": client.AppsV1Api,
            "batch": client.BatchV1Api,
            "custom": client.CustomObjectsApi,
        }[kind.api]
        return cls(self.api_client)

    def _dict(self, obj) -> dict:
        return obj if isinstance(obj, dict) else self.api_client.sanitize_for_serialization(obj)

    def create(self, namespace: str, body: dict) -> dict:
        kind = KINDS[body["kind"]]
        api = self._api(kind)
        if kind.api == "custom":
            return api.create_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, body)
        return self._dict(getattr(api, f"create_namespaced_{kind.snake}")(namespace, body))

    def get(self, kind_name: str, namespace: str, name: str) -> dict | None:
        from kubernetes.client.exceptions import ApiException

        kind = KINDS[kind_name]
        api = self._api(kind)
        try:
            if kind.api == "custom":
                return api.get_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, name)
            return self._dict(getattr(api, f"read_namespaced_{kind.snake}")(name, namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, kind_name: str, namespace: str, label_selector: str) -> list[dict]:
        kind = KINDS[kind_name]
        api = self._api(kind)
        if kind.api == "custom":
            out = api.list_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.plural, label_selector=label_selector
            )
        else:
            out = self._dict(getattr(api, f"list_namespaced_{kind.snake}")(namespace, label_selector=label_selector))
        return out.get("items") or []

    def delete(self, kind_name: str, namespace: str, name: str) -> bool:
        """Delete with background propagation (a Job's API default is to orphan its pods). False if already gone."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        kind = KINDS[kind_name]
        api = self._api(kind)
        opts = client.V1DeleteOptions(propagation_policy="Background")
        try:
            if kind.api == "custom":
                api.delete_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, name, body=opts)
            else:
                getattr(api, f"delete_namespaced_{kind.snake}")(name, namespace, body=opts)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def events(self, namespace: str, name: str) -> list[dict]:
        from kubernetes import client

        out = client.CoreV1Api(self.api_client).list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        )
        return self._dict(out).get("items") or []

    def pod_log(self, namespace: str, pod: str, container: str | None, tail: int, previous: bool) -> str:
        from kubernetes import client

        kwargs = {"tail_lines": tail, "previous": previous}
        if container:
            kwargs["container"] = container
        # raw bytes: the client's own str deserialisation of logs can yield "b'...'" reprs
        resp = client.CoreV1Api(self.api_client).read_namespaced_pod_log(
            pod, namespace, _preload_content=False, **kwargs
        )
        return resp.data.decode("utf-8", errors="replace")


# --- readiness rules (pure functions over API dicts) ---------------------------------------------------------


@dataclass
class Verdict:
    state: str  # ready | waiting | failed
    message: str
    bad_pods: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def _condition(obj: dict, ctype: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def workload_state(obj: dict | None, kind: str, name: str) -> tuple[str, str]:
    """(ready|waiting|failed, why) for one DGD or Deployment."""
    if obj is None:
        return "failed", f"{kind}/{name} disappeared while waiting for it"
    generation = (obj.get("metadata") or {}).get("generation")
    status = obj.get("status") or {}
    if kind == "DynamoGraphDeployment":
        ready = _condition(obj, "Ready") or {}
        why = ready.get("message") or ready.get("reason") or f"state {status.get('state', 'initializing')}"
        if status.get("state") == "failed":
            return "failed", f"{kind}/{name} is in state failed: {why}"
        seen = ready.get("observedGeneration", status.get("observedGeneration"))
        if ready.get("status") == "True" and (generation is None or seen == generation):
            return "ready", "Ready"
        if ready.get("status") == "True":  # a True left over from before the last spec change
            return "waiting", f"{kind}/{name} Ready is for generation {seen}, spec is at {generation}"
        return "waiting", f"{kind}/{name} not ready: {why}"
    # apps/v1 Deployment
    want = (obj.get("spec") or {}).get("replicas", 1)
    available = _condition(obj, "Available") or {}
    progressing = _condition(obj, "Progressing") or {}
    if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        return "failed", f"{kind}/{name}: {progressing.get('message') or 'progress deadline exceeded'}"
    if (
        status.get("observedGeneration") == generation
        and available.get("status") == "True"
        and (status.get("availableReplicas") or 0) >= want
    ):
        return "ready", "available"
    return "waiting", f"{kind}/{name}: {status.get('availableReplicas') or 0}/{want} replicas available"


def pod_problems(pods: list[dict], restart_budget: int) -> tuple[list[str], list[str]]:
    """(fatal problems, reasons for still waiting) over the arm's pods."""
    fatal, pending = [], []
    for pod in pods:
        name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
        for cs in statuses:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason, restarts = waiting.get("reason"), cs.get("restartCount") or 0
            if reason in FATAL_WAITING:
                fatal.append(f"pod {name} container {cs.get('name')}: {reason}: {waiting.get('message', '')}".strip())
            elif restarts > restart_budget:
                last = ((cs.get("lastState") or {}).get("terminated")) or {}
                fatal.append(
                    f"pod {name} container {cs.get('name')}: restarted {restarts} times (budget {restart_budget}); "
                    f"last exit {last.get('exitCode')} {last.get('reason', '')}".rstrip()
                    + (f" now {reason}" if reason else "")
                )
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                pending.append(f"pod {name} unschedulable: {cond.get('message', cond.get('reason', ''))}")
    return fatal, pending


def _pod_names(problems: list[str]) -> list[str]:
    return sorted({p.split()[1] for p in problems})


def evaluate(workloads: list[tuple[str, str, dict | None]], pods: list[dict], restart_budget: int) -> Verdict:
    """The one readiness rule: workloads ready, no fatal pod problem. Used by the poll loop and the trigger."""
    fatal, pending = pod_problems(pods, restart_budget)
    if fatal:
        return Verdict("failed", "; ".join(fatal), _pod_names(fatal))
    states = [(kind, name, *workload_state(obj, kind, name)) for kind, name, obj in workloads]
    failed = [why for _, _, state, why in states if state == "failed"]
    if failed:
        return Verdict("failed", "; ".join(failed), [])
    waiting = [why for _, _, state, why in states if state == "waiting"]
    if not workloads:
        return Verdict("failed", "no DynamoGraphDeployment or Deployment to wait for", [])
    if waiting:
        return Verdict("waiting", "; ".join(waiting + pending), [])
    return Verdict("ready", "ready", [])


def check_arm(
    kube: Kube, namespace: str, workloads: list[tuple[str, str]], pod_selector: str, restart_budget: int
) -> Verdict:
    """Fetch the arm's workloads and pods and judge them; a transient API error is a 'waiting' verdict."""
    try:
        objs = [(kind, name, kube.get(kind, namespace, name)) for kind, name in workloads]
        pods = kube.list("Pod", namespace, pod_selector)
    except Exception as exc:
        if is_transient(exc):
            return Verdict("waiting", f"API error, will retry: {getattr(exc, 'status', '')} {type(exc).__name__}", [])
        raise
    return evaluate(objs, pods, restart_budget)


def describe_pods(kube: Kube, namespace: str, pods: list[str], tail: int = 20) -> str:
    """Events and the last log lines of the named pods, for an error message a person can act on."""
    parts = []
    for pod_name in pods[:5]:
        pod = kube.get("Pod", namespace, pod_name) or {}
        parts.append(f"--- pod {pod_name} events:")
        for ev in kube.events(namespace, pod_name)[-10:]:
            count = f" (x{ev['count']})" if (ev.get("count") or 1) > 1 else ""
            parts.append(f"  {ev.get('type', '')} {ev.get('reason', '')}: {ev.get('message', '')}{count}")
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            previous = bool((cs.get("lastState") or {}).get("terminated"))
            try:
                text = kube.pod_log(namespace, pod_name, cs.get("name"), tail, previous)
            except Exception as exc:  # noqa: BLE001 - logs are a courtesy; never hide the real error
                text = f"(no logs: {getattr(exc, 'reason', None) or type(exc).__name__})"
            which = "previous run" if previous else "current"
            parts.append(f"--- pod {pod_name} container {cs.get('name')} last {tail} log lines ({which}):")
            parts.extend("  " + line for line in (text or "").splitlines()[-tail:])
    return "\n".join(parts)


def age_seconds(obj: dict, now: dt.datetime) -> float:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return 0.0
    if isinstance(created, str):
        created = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    return (now - created).total_seconds()
