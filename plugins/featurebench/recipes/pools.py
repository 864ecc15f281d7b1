"""GPU pools (include/recipes/pools.yaml), the one place that decides where an arm's GPUs come from: the pool a
(spec, GPU type) deploys on, the node selector and tolerations its GPU pods get, and the Airflow pool (one slot per
GPU) that counts them. The manifests, the DAG's pool slots, the run-time pool policy and `pools-json` all ask here,
so capacity accounting follows where an arm really deploys."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from featurebench.errors import RecipeError
from featurebench.settings import POOLS_FILE
from featurebench.spec import SLUG, BenchmarkSpec, ResolvedSpec, Toleration


class Pool(BaseModel):
    """A GPU pool of include/recipes/pools.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    airflow_pool: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # default gpu_<pool name>
    gpus: int = Field(gt=0)
    gpu_types: list[str] = Field(min_length=1)
    gpu_resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []


def default_airflow_pool(name: str) -> str:
    return f"gpu_{name}"


@lru_cache(maxsize=4)
def load_pools(path: Path = POOLS_FILE) -> dict[str, Pool]:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    pools = raw.get("pools", raw) if isinstance(raw, dict) else None
    if not isinstance(pools, dict) or not pools:
        raise RecipeError(f"{path}: expected a mapping of GPU pools under `pools:`")
    bad = [n for n in pools if not re.match(SLUG, n)]
    if bad:
        raise RecipeError(f"{path}: pool names must be slugs: {bad}")
    try:
        return {name: Pool.model_validate({"airflow_pool": default_airflow_pool(name), **(body or {})})
                for name, body in pools.items()}
    except ValidationError as err:
        raise RecipeError(f"{path}: {err}") from None


def spec_pool(spec: BenchmarkSpec, gpu_type: str | None = None, path: Path = POOLS_FILE) -> tuple[str, Pool]:
    """(pool name, Pool) an arm of `spec` deploys on with `gpu_type` (None: the spec's own GPU type)."""
    try:
        name = spec.hardware.pool_for(gpu_type)
    except ValueError as exc:
        raise RecipeError(f"{spec.id}: {exc}") from None
    pools = load_pools(path)
    if name not in pools:
        raise RecipeError(f"{spec.id}: GPU pool {name!r} is not in {path} ({sorted(pools)})")
    pool = pools[name]
    if gpu_type and gpu_type not in pool.gpu_types:
        raise RecipeError(f"GPU pool {name!r} has {pool.gpu_types}, not {gpu_type}")
    return name, pool


def pool_for(resolved: ResolvedSpec, gpu_type: str | None, path: Path = POOLS_FILE) -> tuple[str, Pool]:
    """The pool the resolved spec's arms deploy on (what the manifests' node selectors and tolerations use)."""
    return spec_pool(resolved.spec, gpu_type, path)


def airflow_pool(spec: BenchmarkSpec, gpu_type: str | None = None, path: Path = POOLS_FILE) -> str:
    """The Airflow pool that counts the GPUs of `spec`'s arms when they deploy on `gpu_type`."""
    return spec_pool(spec, gpu_type, path)[1].airflow_pool


def arm_slots(spec: BenchmarkSpec, gpu_type: str | None = None, arm: str | None = None,
              path: Path = POOLS_FILE) -> tuple[str, int]:
    """(Airflow pool, pool_slots) for an arm's GPU tasks: one slot per GPU (default: the spec's per-arm budget,
    hardware.gpus), refused when the arm needs more GPUs than the whole pool has."""
    name, pool = spec_pool(spec, gpu_type, path)
    slots = spec.arm(arm).gpus if arm else spec.hardware.gpus
    if slots > pool.gpus:
        raise RecipeError(f"{spec.id} needs {slots} GPUs per arm; pool {name!r} has {pool.gpus}")
    return pool.airflow_pool, slots


def pools_json(path: Path = POOLS_FILE) -> dict[str, dict]:
    """`airflow pools import` input. include_deferred: a deferred wait_ready still counts its GPUs."""
    return {
        pool.airflow_pool: {
            "slots": pool.gpus,
            "description": f"GPU pool {name} ({', '.join(pool.gpu_types)}): one slot per GPU",
            "include_deferred": True,
        }
        for name, pool in sorted(load_pools(path).items())
    }
