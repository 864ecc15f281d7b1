"""Typed benchmark specs: include/benchmarks/<id>.yaml -> BenchmarkSpec.

A spec is the whole definition of one feature benchmark: the question, the arms to deploy, the traffic,
the load points, the statistics settings, and a scaled-down local simulation profile. A spec also carries
dated versions (image tags, engine flags, load settings) so a run can resolve the configuration that was
in force on its logical date.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from featurebench.spec.base import IMAGE_TAG, MAX_TRIALS, SLUG, Strict, check_levels
from featurebench.spec.deploy import (
    Deployment,
)
from featurebench.spec.simulator import Simulator


class Model(Strict):
    name: str
    hf_id: str
    revision: str = "main"
    trust_remote_code: bool = False  # the tokenizer is custom code: AIPerf gets --tokenizer-trust-remote-code
    draft: str | None = None  # a speculative-decoding draft model (HF id) some arms load too
    draft_revision: str = "main"


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

    def gpu_type_problem(self, gpu_type) -> str | None:
        """The one wording of "this benchmark does not run on that GPU" (form, render overrides, pools)."""
        if gpu_type is None or gpu_type in self.gpu_types:
            return None
        return f"gpu_type {gpu_type!r}: this benchmark runs on {self.gpu_types}"

    def pool_for(self, gpu_type: str | None) -> str:
        if problem := self.gpu_type_problem(gpu_type):
            raise ValueError(problem)
        return self.pools.get(gpu_type or self.gpu, self.pool)

    @model_validator(mode="after")
    def _pools_known(self) -> Hardware:
        unknown = set(self.pools) - set(self.gpu_types)
        if unknown:
            raise ValueError(f"pools names GPU types that are not gpu/gpu_choices: {sorted(unknown)}")
        bad = [p for p in self.pools.values() if not re.fullmatch(SLUG, p)]
        if bad:
            raise ValueError(f"pool names must be slugs: {bad}")
        return self


class Goodput(Strict):
    ttft_ms: float = Field(gt=0)
    itl_ms: float = Field(gt=0)

    def aiperf_arg(self) -> str:
        return f"time_to_first_token:{self.ttft_ms:g} inter_token_latency:{self.itl_ms:g}"


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

    @field_validator("concurrency")
    @classmethod
    def _levels(cls, levels: list[int] | None) -> list[int] | None:
        check_levels(levels, "concurrency")
        return levels

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


# Flags featurebench.loadgen.aiperf sets itself; a spec's aiperf_args may not set them again.
OWNED_AIPERF_FLAGS = frozenset({
    "--model", "-m", "--tokenizer", "--url", "-u", "--artifact-dir", "--input-file", "--custom-dataset-type",
    "--concurrency", "--request-count", "--benchmark-duration", "--random-seed", "--goodput", "--extra-inputs",
    "--fixed-schedule", "--no-fixed-schedule", "--warmup-request-count", "--warmup-concurrency",
    "--request-timeout-seconds", "--streaming", "--endpoint-type", "--export-level", "--profile-export-level",
})


class Load(Strict):
    mode: Literal["fixed_schedule", "concurrency"]
    concurrency: list[int] = []  # closed-loop load points
    concurrency_per_gpu: int | None = Field(default=None, gt=0)  # topology: concurrency = this x the arm's GPUs
    request_count: int | None = Field(default=None, gt=0)
    requests_per_concurrency: int | None = Field(default=None, gt=0)  # request count = this x concurrency
    duration_s: int | None = Field(default=None, gt=0)  # benchmark duration instead of a request count
    ramp_s: int | None = Field(default=None, ge=0)
    extra_inputs: dict[str, Any] = {}
    random_seed: int = 42
    request_timeout_s: int = Field(default=1200, gt=0)
    env: dict[str, str] = {}  # AIPerf's environment (AIPERF_* settings, e.g. timeouts), as upstream's perf job
    # further `aiperf profile` flags, as upstream's perf job (e.g. --workers-max 200); "{concurrency}" in a value
    # is the load point's concurrency
    aiperf_args: list[str] = []

    @field_validator("env")
    @classmethod
    def _aiperf_env(cls, env: dict[str, str]) -> dict[str, str]:
        bad = [k for k in env if not re.fullmatch(r"AIPERF_[A-Z0-9_]+", k)]
        if bad:
            raise ValueError(f"load.env sets AIPerf settings only (AIPERF_*): {bad}")
        return env

    @field_validator("aiperf_args")
    @classmethod
    def _not_owned(cls, args: list[str]) -> list[str]:
        owned = sorted(set(args) & OWNED_AIPERF_FLAGS)
        if owned:
            raise ValueError(f"load.aiperf_args sets flags featurebench.loadgen owns: {owned}")
        return args

    @model_validator(mode="after")
    def _points(self) -> Load:
        if self.mode == "concurrency" and not (self.concurrency or self.concurrency_per_gpu):
            raise ValueError("closed-loop load needs `concurrency` or `concurrency_per_gpu`")
        check_levels(self.concurrency, "concurrency")
        return self


class Warmup(Strict):
    requests: int = Field(default=0, ge=0)
    concurrency: int | None = Field(default=None, gt=0)  # None: AIPerf's default, the run's concurrency
    match_concurrency: bool = False  # topology benchmarks: warmup requests and concurrency = the load point's
    # A separate synthetic run before the measured one (its prompts share no prefix with the trace, so the KV
    # cache the measured run is judged on starts cold), instead of the trace's first requests in the run.
    separate: bool = False
    isl: int | None = Field(default=None, gt=0)  # separate run's synthetic lengths (None: AIPerf's defaults)
    osl: int | None = Field(default=None, gt=0)
    extra_inputs: dict[str, Any] = {}


class Deviation(Strict):
    """A declared, intentional difference from the upstream recipe (recipes.parity field path pattern)."""

    path: str = Field(min_length=3)  # fnmatch pattern over parity paths, e.g. load.run.--random-seed
    reason: str = Field(min_length=10)
    arms: list[str] = []  # empty: every arm


class UpstreamArm(Strict):
    """An arm's upstream files, relative to the upstream copies (recipes.parity.upstream_root)."""

    deploy: str
    perf: str
    env_file: str | None = None  # values upstream's wrapper envsubsts into both (qwen3.6 hw/<gpu>.env)


class Parity(Strict):
    arms: dict[str, UpstreamArm]
    deviations: list[Deviation] = []


# Metric names the comparison computes (featurebench.analysis.metrics.METRICS; a test keeps the two in step).
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
    # A trial whose share of failed requests exceeds this is INVALID and never feeds a verdict: an engine that
    # crashed mid-load leaves only its fast survivors to measure. A ratio, as AIPerf's --failed-request-threshold.
    failed_request_threshold: float = Field(default=0.05, ge=0, le=1)
    # Each arm runs one load point of its own (its operating point, as a published page that compares arms at
    # different concurrencies) and the arms are compared there, not at a shared point.
    operating_points: bool = False


class LocalProfile(Strict):
    """The scaled-down simulation: mocker workers, a small trace, short load."""

    speedup_ratio: float = Field(default=1.0, ge=0)
    block_size: int = Field(default=64, gt=0)
    num_gpu_blocks: int = Field(default=16384, gt=0)  # KV cache per worker: small enough that reuse matters
    max_num_seqs: int | None = None
    traffic: Traffic
    load: Load
    trials: int = Field(default=2, gt=0, le=MAX_TRIALS)
    warmup: Warmup = Warmup()
    arms: dict[str, LocalArm] = {}  # per-arm override of Arm.local (rarely needed)


class Schedule(Strict):
    cron: str  # weekly: "M H * * D"

    @field_validator("cron")
    @classmethod
    def _weekly(cls, cron: str) -> str:
        from croniter import croniter  # what Airflow's CronTriggerTimetable parses the expression with

        parts = cron.split()
        weekly = len(parts) == 5 and parts[2:4] == ["*", "*"] and all(p.isdigit() for p in (parts[0], parts[1], parts[4]))
        if not weekly or not croniter.is_valid(cron) or int(parts[0]) > 59 or int(parts[1]) > 23 or int(parts[4]) > 7:
            raise ValueError(f"{cron!r} is not a weekly cron ('M H * * D': minute 0-59, hour 0-23, one day 0-7)")
        return cron


class SpecVersion(Strict):
    """A dated configuration change; `overrides` is deep-merged over the spec's body."""

    version: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    effective_from: dt.date
    image_tag: str = Field(pattern=IMAGE_TAG.pattern)
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
    trials: int = Field(default=6, gt=0, le=MAX_TRIALS)
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
    parity: Parity | None = None  # each arm's upstream recipe and the declared deviations (recipes.parity)

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
        if self.parity and set(self.parity.arms) != set(names):
            raise ValueError(f"parity.arms must name every arm exactly: {sorted(self.parity.arms)} vs {sorted(names)}")
        for dev in self.parity.deviations if self.parity else []:
            if set(dev.arms) - set(names):
                raise ValueError(f"parity deviation {dev.path!r} names unknown arms: {sorted(set(dev.arms) - set(names))}")
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

    def load_section(self, platform: str) -> tuple[Traffic, Load, Warmup]:
        """The one rule for which traffic, load and warmup apply: the scaled-down `local:` profile on the local
        platform, the spec's own everywhere else."""
        if platform == "local":
            return self.local.traffic, self.local.load, self.local.warmup
        return self.traffic, self.load, self.warmup

    def default_trials(self, platform: str) -> int:
        """Trials per load point when the form leaves them empty: the local profile's on the local platform."""
        return self.local.trials if platform == "local" else self.trials

    def router_mode(self, arm: str, platform: str) -> str:
        """The arm's router mode: the local profile may choose another one for the mocker."""
        local = self.local_arm(arm).router_mode if platform == "local" else None
        return local or self.arm(arm).deploy.router_mode

    def load_points(self, arm: Arm | None = None, platform: str = "kubernetes") -> list[str]:
        """Load point labels: 'replay' for a fixed-schedule trace, 'c<N>' for closed-loop concurrency."""
        load = self.load_section(platform)[1]
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
