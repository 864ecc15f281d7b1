"""Typed benchmark specs: include/benchmarks/<id>.yaml -> BenchmarkSpec.

A spec is the whole definition of one feature benchmark: the question, the arms to deploy, the traffic,
the load points, the statistics settings, and a scaled-down local simulation profile. A spec also carries
dated versions (image tags, engine flags, load settings) so a run can resolve the configuration that was
in force on its logical date.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from featurebench.simulator import Simulator

REPO_ROOT = Path(__file__).resolve().parents[2]
# FEATUREBENCH_BENCHMARKS_DIR points the DAGs and tools at another folder of specs (tests use it).
BENCHMARKS_DIR = Path(os.environ.get("FEATUREBENCH_BENCHMARKS_DIR", REPO_ROOT / "include" / "benchmarks"))
TRACES_DIR = REPO_ROOT / "include" / "traces"

# libyaml's safe loader when PyYAML was built with it: same documents, ~10x faster than the pure-Python one,
# which was most of the DAG file's parse time
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SLUG = r"^[a-z0-9][a-z0-9-]*$"
LOAD_POINT = re.compile(r"^(c[1-9][0-9]{0,4}|replay(-x[0-9]+(\.[0-9]+)?)?)$")


class SpecError(ValueError):
    """A spec file that cannot be used; the message names the file and the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Model(Strict):
    name: str
    hf_id: str
    revision: str = "main"


class Hardware(Strict):
    gpu: str  # GPU type the published numbers used, e.g. H200
    gpu_choices: list[str] = []  # other GPU types the trigger form may pick (empty: only `gpu`)
    gpus: int = Field(gt=0)  # GPUs per arm (the budget every arm is sized for, unless the arm says otherwise)
    nodes: int = Field(default=1, gt=0)
    pool: str = Field(pattern=SLUG)  # GPU pool name in include/recipes/pools.yaml
    pools: dict[str, str] = {}  # GPU type -> pool, when the form may pick another GPU type (default: `pool`)

    @property
    def gpu_types(self) -> list[str]:
        return [self.gpu, *[g for g in self.gpu_choices if g != self.gpu]]

    def pool_for(self, gpu_type: str | None) -> str:
        if gpu_type is not None and gpu_type not in self.gpu_types:
            raise ValueError(f"GPU type {gpu_type!r} is not one of {self.gpu_types}")
        return self.pools.get(gpu_type or self.gpu, self.pool)

    @model_validator(mode="after")
    def _pools_known(self) -> Hardware:
        unknown = set(self.pools) - set(self.gpu_types)
        if unknown:
            raise ValueError(f"pools names GPU types that are not gpu/gpu_choices: {sorted(unknown)}")
        bad = [p for p in self.pools.values() if not re.match(SLUG, p)]
        if bad:
            raise ValueError(f"pool names must be slugs: {bad}")
        return self


class Goodput(Strict):
    ttft_ms: float = Field(gt=0)
    itl_ms: float = Field(gt=0)

    def aiperf_arg(self) -> str:
        return f"time_to_first_token:{self.ttft_ms:g} inter_token_latency:{self.itl_ms:g}"


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


class LocalWorkers(Strict):
    role: Literal["agg", "prefill", "decode"]
    count: int = Field(gt=0)
    mocker_args: list[str] = []  # extra dynamo.mocker flags for this pool


class LocalArm(Strict):
    """How the local platform simulates an arm with the Dynamo mocker."""

    workers: list[LocalWorkers] = Field(min_length=1)
    router_mode: Literal["round-robin", "kv", "random", "least-loaded"] | None = None  # None: the arm's
    simulated: bool = True  # False: the feature's effect is not modelled locally (the report says so)
    note: str = ""  # what is (not) modelled, shown in the report


class Arm(Strict):
    name: str = Field(pattern=SLUG)
    role: Literal["control", "treatment"]
    catalog_role: Literal["baseline", "treatment", "winner"] | None = None
    description: str
    gpus: int = Field(gt=0)  # declared GPU total; must equal what the deployment asks for
    deploy: Deployment
    local: LocalArm
    concurrency: list[int] | None = None  # per-arm load points (closed loop), overriding load.concurrency

    @model_validator(mode="after")
    def _gpus_add_up(self) -> Arm:
        if self.deploy.gpus != self.gpus:
            raise ValueError(f"gpus is {self.gpus} but the workers ask for {self.deploy.gpus}")
        return self


class Traffic(Strict):
    """The workload. `generator` + `params` make the file deterministically (include/traces)."""

    kind: Literal["trace", "synthetic"]
    description: str
    dataset_type: Literal["mooncake_trace", "single_turn", "multi_turn", "synthetic"]
    generator: str | None = None  # name in featurebench.traces.GENERATORS
    params: dict[str, Any] = {}
    file: str | None = None  # path relative to include/traces
    isl: int | None = None  # synthetic input length (tokens)
    osl: int | None = None  # synthetic output length (tokens)

    @model_validator(mode="after")
    def _consistent(self) -> Traffic:
        if self.kind == "trace" and not (self.file and self.generator):
            raise ValueError("a trace needs `file` and `generator`")
        if self.kind == "synthetic" and not (self.isl and self.osl):
            raise ValueError("synthetic traffic needs `isl` and `osl`")
        return self


class Load(Strict):
    mode: Literal["fixed_schedule", "concurrency"]
    concurrency: list[int] = []  # closed-loop load points
    concurrency_per_gpu: int | None = None  # topology benchmarks: concurrency = this x the arm's GPUs
    request_count: int | None = None
    requests_per_concurrency: int | None = None  # request count = this x concurrency
    duration_s: int | None = None  # benchmark duration instead of a request count
    ramp_s: int | None = None
    extra_inputs: dict[str, Any] = {}
    random_seed: int = 42
    request_timeout_s: int = 1200

    @model_validator(mode="after")
    def _points(self) -> Load:
        if self.mode == "concurrency" and not (self.concurrency or self.concurrency_per_gpu):
            raise ValueError("closed-loop load needs `concurrency` or `concurrency_per_gpu`")
        if any(c <= 0 for c in self.concurrency):
            raise ValueError("concurrency levels must be positive")
        return self


class Warmup(Strict):
    requests: int = Field(default=0, ge=0)
    concurrency: int = Field(default=1, gt=0)
    match_concurrency: bool = False  # topology benchmarks: warmup requests and concurrency = the load point's


# Metric names the comparison computes (featurebench.compare.METRICS; a test keeps the two in step).
COMPARED_METRICS = frozenset(
    [f"{m}_{s}" for m in ("ttft", "itl", "inter_chunk_latency", "request_latency") for s in ("mean", "p50", "p90", "p99")]
    + ["output_tps", "request_rps", "goodput_rps", "output_tps_per_gpu", "output_tps_per_user_mean"]
)


class Comparison(Strict):
    primary_metrics: list[str] = Field(min_length=1)

    @field_validator("primary_metrics")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - COMPARED_METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; choose from {sorted(COMPARED_METRICS)}")
        return names
    practical_threshold_pct: float = Field(default=5.0, ge=0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    per_gpu: bool = False  # topology benchmarks: read throughput per GPU first


class LocalProfile(Strict):
    """The scaled-down simulation: mocker workers, a small trace, short load."""

    speedup_ratio: float = Field(default=1.0, ge=0)
    block_size: int = Field(default=64, gt=0)
    num_gpu_blocks: int = Field(default=16384, gt=0)  # KV cache per worker: small enough that reuse matters
    max_num_seqs: int | None = None
    traffic: Traffic
    load: Load
    trials: int = Field(default=2, gt=0)
    warmup: Warmup = Warmup()
    arms: dict[str, LocalArm] = {}  # per-arm override of Arm.local (rarely needed)


class Schedule(Strict):
    cron: str  # weekly: "M H * * D"

    @field_validator("cron")
    @classmethod
    def _weekly(cls, cron: str) -> str:
        parts = cron.split()
        if len(parts) != 5 or parts[2:4] != ["*", "*"] or not parts[4].isdigit() or not all(
            p.isdigit() for p in parts[:2]
        ):
            raise ValueError(f"{cron!r} is not a weekly cron ('M H * * D', one day of the week)")
        return cron


class SpecVersion(Strict):
    """A dated configuration change; `overrides` is deep-merged over the spec's body."""

    version: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    effective_from: dt.date
    image_tag: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    note: str = ""
    overrides: dict[str, Any] = {}


class BenchmarkSpec(Strict):
    id: str = Field(pattern=SLUG)
    title: str
    question: str
    subtype: Literal["ab-test", "feature-stack", "topology"]
    features: list[str] = Field(min_length=1)
    model: Model
    hardware: Hardware
    traffic: Traffic
    load: Load
    # 6 trials detect a 5% p50 TTFT shift 84% of the time at 2% trial-to-trial CV; 3 only 41% (tests/test_stats.py)
    trials: int = Field(default=6, gt=0)
    warmup: Warmup = Warmup()
    goodput: Goodput | None = None
    arms: list[Arm] = Field(min_length=2)
    arms_in_parallel: bool = False  # default: arms run one after another on the same pool
    comparison: Comparison
    local: LocalProfile
    schedule: Schedule
    ready_timeout_s: int = Field(default=1800, gt=0)
    simulator: Simulator | None = None  # hardware identity for the mocker (local arms and the preflight)
    versions: list[SpecVersion] = Field(min_length=1)
    notes: list[str] = []  # discrepancies between sources and the choice made

    @model_validator(mode="after")
    def _arms(self) -> BenchmarkSpec:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names repeat: {names}")
        if [a.role for a in self.arms].count("control") != 1:
            raise ValueError("exactly one arm must have role: control")
        unknown = set(self.local.arms) - set(names)
        if unknown:
            raise ValueError(f"local.arms names unknown arms: {sorted(unknown)}")
        if self.simulator and (unknown := set(self.simulator.arms) - set(names)):
            raise ValueError(f"simulator.arms names unknown arms: {sorted(unknown)}")
        dates = [v.effective_from for v in self.versions]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("versions must be in increasing effective_from order, one per date")
        return self

    @property
    def control(self) -> Arm:
        return next(a for a in self.arms if a.role == "control")

    @property
    def treatments(self) -> list[Arm]:
        return [a for a in self.arms if a.role == "treatment"]

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(f"{self.id} has no arm {name!r}; arms: {[a.name for a in self.arms]}")

    def local_arm(self, name: str) -> LocalArm:
        return self.local.arms.get(name) or self.arm(name).local

    def load_points(self, arm: Arm | None = None, platform: str = "kubernetes") -> list[str]:
        """Load point labels: 'replay' for a fixed-schedule trace, 'c<N>' for closed-loop concurrency."""
        load = self.local.load if platform == "local" else self.load
        if load.mode == "fixed_schedule":
            return ["replay"]
        if load.concurrency_per_gpu and arm is not None and platform != "local":
            return [f"c{load.concurrency_per_gpu * arm.gpus}"]
        levels = (arm.concurrency if arm is not None and arm.concurrency and platform != "local" else None) or (
            load.concurrency
        )
        return [f"c{c}" for c in levels]


class ResolvedSpec(BaseModel):
    """The configuration in force for one run: a spec with one version applied."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    spec: BenchmarkSpec
    version: SpecVersion
    source_sha256: str


def _deep_merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _format_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid benchmark spec ({err.error_count()} problem(s))"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  - field `{where}`: {e['msg']}")
    return "\n".join(lines)


class SpecFile:
    """One include/benchmarks/<id>.yaml: the raw document, its checksum, and the validated spec."""

    def __init__(self, path: Path):
        self.path = Path(path)
        text = self.path.read_text()
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()
        try:
            raw = yaml.load(text, Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            raise SpecError(f"{self.path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise SpecError(f"{self.path}: a spec must be a YAML mapping")
        self.raw: dict = raw
        self.spec = self._validate(raw, where="")
        if self.spec.id != self.path.stem:
            raise SpecError(f"{self.path}: field `id` is {self.spec.id!r} but the file is named {self.path.stem!r}")
        for v in self.spec.versions:  # every version must produce a valid spec, checked now, not at run time
            resolved = self.resolve(v.effective_from)
        self.__dict__["latest"] = resolved  # the last version checked is `latest`: don't resolve it twice

    def _validate(self, raw: dict, where: str) -> BenchmarkSpec:
        try:
            return BenchmarkSpec.model_validate(raw)
        except ValidationError as err:
            raise SpecError(_format_error(self.path, err) + where) from None

    def version_at(self, day: dt.date) -> SpecVersion:
        in_force = [v for v in self.spec.versions if v.effective_from <= day]
        if not in_force:
            first = self.spec.versions[0].effective_from
            raise SpecError(f"{self.path}: no version of {self.spec.id} was in force on {day} (first: {first})")
        return in_force[-1]

    def resolve(self, day: dt.date) -> ResolvedSpec:
        version = self.version_at(day)
        body = _deep_merge({k: v for k, v in self.raw.items() if k != "versions"}, version.overrides)
        body["versions"] = self.raw["versions"]
        spec = self._validate(body, where=f"\n  (after applying version {version.version})")
        return ResolvedSpec(spec=spec, version=version, source_sha256=self.sha256)

    @cached_property
    def latest(self) -> ResolvedSpec:
        return self.resolve(self.spec.versions[-1].effective_from)


def load_spec(benchmark_id: str, directory: Path = BENCHMARKS_DIR) -> SpecFile:
    path = Path(directory) / f"{benchmark_id}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in Path(directory).glob("*.yaml"))
        raise SpecError(f"no benchmark {benchmark_id!r} in {directory}; known: {known}")
    return SpecFile(path)


def load_all(directory: Path = BENCHMARKS_DIR) -> tuple[dict[str, SpecFile], dict[str, str]]:
    """Every spec in the folder; a broken file is reported in `errors` and does not stop the others."""
    specs: dict[str, SpecFile] = {}
    errors: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            specs[path.stem] = SpecFile(path)
        except (SpecError, OSError) as exc:
            errors[str(path)] = str(exc)
    return specs, errors
