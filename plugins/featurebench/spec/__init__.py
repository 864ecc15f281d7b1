"""Benchmark specs: the typed model (`models`) and the files with their dated versions (`loader`).

`from featurebench.spec import ...` keeps working for every name the single module had."""

from __future__ import annotations

from pathlib import Path

from featurebench import settings
from featurebench.errors import SpecError
from featurebench.settings import REPO_ROOT, TRACES_DIR
from featurebench.spec.base import IMAGE_TAG, LOAD_POINT, MAX_LOAD_POINTS, MAX_TRIALS, REPLAY_POINT, SLUG, Strict
from featurebench.spec.deploy import (
    QUANTITY,
    ComputeResources,
    Deployment,
    PodSettings,
    Probe,
    ServeSettings,
    Toleration,
    Volume,
    Worker,
)
from featurebench.spec.loader import SpecFile, load_all, load_spec
from featurebench.spec.models import (
    COMPARED_METRICS,
    Arm,
    BenchmarkSpec,
    Comparison,
    Goodput,
    Hardware,
    Load,
    LocalArm,
    LocalProfile,
    LocalWorkers,
    Model,
    ResolvedSpec,
    Schedule,
    SpecVersion,
    Traffic,
    Warmup,
)

__all__ = [
    "COMPARED_METRICS", "IMAGE_TAG", "LOAD_POINT", "MAX_LOAD_POINTS", "MAX_TRIALS", "REPLAY_POINT", "QUANTITY", "REPO_ROOT", "SLUG", "TRACES_DIR", "Arm", "BenchmarkSpec",
    "Comparison", "ComputeResources", "Deployment", "Goodput", "Hardware", "Load", "LocalArm", "LocalProfile",
    "LocalWorkers", "Model", "PodSettings", "Probe", "ResolvedSpec", "Schedule", "ServeSettings", "SpecError",
    "SpecFile", "SpecVersion", "Strict", "Toleration", "Traffic", "Volume", "Warmup", "Worker", "load_all",
    "load_spec",
]


def __getattr__(name: str) -> Path:
    # BENCHMARKS_DIR used to be read once at import; it now follows FEATUREBENCH_BENCHMARKS_DIR when asked for.
    if name == "BENCHMARKS_DIR":
        return settings.benchmarks_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
