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

from featurebench.spec.base import SLUG, Strict
from featurebench.spec.deploy import (
    Deployment,
)


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


# Metric names the comparison computes (featurebench.analysis.compare.METRICS; a test keeps the two in step).
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
