"""How an arm is deployed on Kubernetes: the DGD or vllm-serve deployment, its worker pools, pod settings,
probes, resources and volumes."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from featurebench.spec.base import SLUG, Strict

QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"  # a Kubernetes resource quantity, e.g. 500m, 80Gi


class Probe(Strict):
    """An HTTP GET probe (startup or readiness)."""

    path: str = Field(pattern=r"^/[A-Za-z0-9/._-]*$")
    port: int = Field(gt=0, lt=65536)
    initial_delay_s: int = Field(default=0, ge=0)
    period_s: int = Field(default=10, gt=0)
    timeout_s: int = Field(default=1, gt=0)
    failure_threshold: int = Field(default=3, gt=0)


class Toleration(Strict):
    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class PodSettings(Strict):
    """Pod-level settings of a deployment (all its pods) or of one worker pool (merged over the former)."""

    node_selector: dict[str, str] = {}  # e.g. kubernetes.io/arch: arm64 (added to the GPU pool's selector)
    tolerations: list[Toleration] = []  # added to the GPU pool's tolerations
    run_as_user: int | None = Field(default=None, ge=0)
    capabilities: list[str] = []  # Linux capabilities added to the main container, e.g. IPC_LOCK
    memlock_unlimited: bool = False  # run the engine under `ulimit -l unlimited` (pinned memory for NIXL/RDMA)
    startup_probe: Probe | None = None
    colocate_workers: bool = False  # preferred podAffinity to this arm's worker pods on the same node

    def merged(self, over: PodSettings | None) -> PodSettings:
        """These settings with a worker's `over` applied: maps merged, lists appended, scalars replaced."""
        if over is None:
            return self
        return PodSettings(
            node_selector={**self.node_selector, **over.node_selector},
            tolerations=[*self.tolerations, *over.tolerations],
            run_as_user=over.run_as_user if over.run_as_user is not None else self.run_as_user,
            capabilities=[*self.capabilities, *[c for c in over.capabilities if c not in self.capabilities]],
            memlock_unlimited=self.memlock_unlimited or over.memlock_unlimited,
            startup_probe=over.startup_probe or self.startup_probe,
            colocate_workers=self.colocate_workers or over.colocate_workers,
        )


class ComputeResources(Strict):
    """CPU/memory requests and limits, plus extra resources (e.g. rdma/ib), as Kubernetes quantities."""

    cpu: str | None = Field(default=None, pattern=QUANTITY)  # request
    cpu_limit: str | None = Field(default=None, pattern=QUANTITY)
    memory: str | None = Field(default=None, pattern=QUANTITY)  # request
    memory_limit: str | None = Field(default=None, pattern=QUANTITY)
    custom: dict[str, str] = {}  # extra limits, e.g. {"rdma/ib": "2"}

    @field_validator("custom")
    @classmethod
    def _quantities(cls, custom: dict[str, str]) -> dict[str, str]:
        bad = {k: v for k, v in custom.items() if not re.match(QUANTITY, v)}
        if bad:
            raise ValueError(f"not resource quantities: {bad}")
        return custom


class Volume(Strict):
    """An existing PVC the arm's pods mount (the namespace's prep creates it; runs never create PVCs)."""

    pvc: str = Field(pattern=SLUG)
    mount: str = Field(pattern=r"^/[A-Za-z0-9/._-]*$")
    compilation_cache: bool = False  # DGD useAsCompilationCache
    frontend: bool = True  # also mounted on the DGD frontend
    sub_path: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-][A-Za-z0-9/._-]*$")  # vllm-serve only


class ServeSettings(Strict):
    """A plain `vllm serve` Deployment + Service (no Dynamo): the OpenAI server in the worker pod."""

    port: int = Field(default=8000, gt=0, lt=65536)
    readiness_probe: Probe
    progress_deadline_s: int = Field(default=1800, gt=0)


class Worker(Strict):
    """One pool of identical workers in an arm (a DGD service)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9-]*$")  # service name, e.g. VllmPrefillWorker
    role: Literal["agg", "prefill", "decode"]
    replicas: int = Field(gt=0)
    gpus_per_pod: int = Field(gt=0)
    nodes_per_replica: int = Field(default=1, gt=0)  # > 1 = multinode worker (DGD multinode.nodeCount)
    tp: int = Field(default=1, gt=0)
    ep: int = Field(default=1, gt=0)
    attention_dp: bool = False
    args: list[str] = []  # engine arguments after the module name
    env: dict[str, str] = {}
    engine_config: dict[str, Any] | None = None  # TRT-LLM extra-engine-args, mounted from a ConfigMap
    engine_config_file: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+\.yaml$")  # default <name>.yaml
    shared_memory: str | None = Field(default=None, pattern=QUANTITY)  # e.g. 80Gi
    resources: ComputeResources | None = None  # CPU/memory (GPUs come from gpus_per_pod)
    pod: PodSettings | None = None  # pod settings of this pool only, merged over the deployment's

    @property
    def config_file(self) -> str | None:
        """The ConfigMap key (and file under /config) of this pool's engine config."""
        if self.engine_config is None:
            return None
        return self.engine_config_file or f"{self.name}.yaml"

    @property
    def gpus(self) -> int:
        return self.replicas * self.gpus_per_pod * self.nodes_per_replica

    @model_validator(mode="after")
    def _tp_fits(self) -> Worker:
        per_replica = self.gpus_per_pod * self.nodes_per_replica
        if self.tp > per_replica:
            raise ValueError(f"tp {self.tp} needs more GPUs than one replica has ({per_replica})")
        if self.engine_config_file and self.engine_config is None:
            raise ValueError("engine_config_file without engine_config")
        if self.config_file and f"/config/{self.config_file}" not in self.args:
            # the engine must be pointed at the mounted file; say so rather than mount a file nobody reads
            raise ValueError(f"engine_config is mounted at /config/{self.config_file} but args do not name it")
        return self


class Deployment(Strict):
    """What an arm deploys on Kubernetes."""

    kind: Literal["dynamo", "vllm-serve"] = "dynamo"
    name: str = Field(pattern=SLUG)  # DGD / Deployment base name (the run id is appended)
    backend: Literal["vllm", "trtllm", "sglang"] = "vllm"
    image: str  # repository without tag; the tag comes from the version in force (or the form)
    router_mode: Literal["round-robin", "kv", "random", "least-loaded"] = "round-robin"
    frontend_args: list[str] = []
    env: dict[str, str] = {}
    workers: list[Worker] = Field(min_length=1)
    needs_hf_token: bool = False
    compute_domain: bool = False  # GB200 multinode: DRA ComputeDomain claim
    frontend_env: dict[str, str] = {}  # DGD Frontend service only
    frontend_resources: ComputeResources | None = None
    volumes: list[Volume] = []  # existing PVCs mounted by the pods
    pod: PodSettings = PodSettings()  # applied to every pod of the arm (workers may add to it)
    serve: ServeSettings | None = None  # kind vllm-serve only

    @property
    def gpus(self) -> int:
        return sum(w.gpus for w in self.workers)

    @model_validator(mode="after")
    def _kind_consistent(self) -> Deployment:
        pvcs = [v.pvc for v in self.volumes]
        if self.kind == "vllm-serve":
            if self.serve is None:
                raise ValueError("kind vllm-serve needs `serve` (port, readiness probe)")
            if len(self.workers) != 1 or self.workers[0].role != "agg" or self.workers[0].replicas != 1:
                raise ValueError("kind vllm-serve runs exactly one aggregated worker with 1 replica")
            if self.backend != "vllm" or self.frontend_args or self.frontend_env or self.compute_domain:
                raise ValueError("kind vllm-serve has no Dynamo frontend, no compute domain and backend vllm")
        else:
            if self.serve is not None:
                raise ValueError("`serve` is for kind vllm-serve only")
            if len(set(pvcs)) != len(pvcs):
                raise ValueError(f"a DGD mounts each PVC once: {pvcs}")
            if any(v.sub_path for v in self.volumes):
                raise ValueError("DGD volume mounts have no sub_path (kind vllm-serve only)")
        names = [w.name for w in self.workers]
        if len(set(n.lower() for n in names)) != len(names):
            raise ValueError(f"worker names repeat: {names}")
        if "--router-mode" in self.frontend_args:
            raise ValueError("set router_mode, not --router-mode in frontend_args")
        return self
