"""The Platform protocol every platform implements, and the DeferringPlatform protocol of those whose waits can
run in Airflow's triggerer. (The lookup by name, `get_platform`, is in the package: this module imports no
platform, so each platform may import it.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from featurebench.run import RunContext
from featurebench.spec import ResolvedSpec


class Platform(Protocol):
    name: str

    def provision(self, run: RunContext, resolved: ResolvedSpec, arm: str) -> dict:
        """Create the arm's deployment. Idempotent: a retry finds what it made. Returns an endpoint dict
        (at least {"url": ..., "model": ...}) that wait_ready and run_load take."""

    def wait_ready(self, run: RunContext, resolved: ResolvedSpec, arm: str, endpoint: dict) -> dict:
        """Block until the arm serves its model; fail fast with the reason. Returns the endpoint."""

    def run_load(
        self, run: RunContext, resolved: ResolvedSpec, arm: str, endpoint: dict, point: str, trial: int
    ) -> Path:
        """Run AIPerf for one load point and trial; return a local folder holding its artifacts."""

    def teardown(self, run: RunContext, arm: str) -> list[str]:
        """Delete everything this run made for the arm, found by run id + arm (never by re-derived names).
        Safe to call when nothing was made. Returns what was removed."""


@dataclass(frozen=True)
class Deferral:
    """A wait handed to Airflow's triggerer: the trigger, and what the platform's finish_* call gets back with
    the trigger's event."""

    trigger: Any  # an airflow.triggers.base.BaseTrigger
    kwargs: dict = field(default_factory=dict)


@runtime_checkable
class DeferringPlatform(Protocol):
    """A platform whose waits run in the triggerer, so a wait of hours holds no worker slot. The operators
    (featurebench.airflow.operators) use these instead of wait_ready and run_load; a platform without them
    waits inside the task."""

    def begin_ready(self, run: RunContext, arm: str, endpoint: dict) -> Deferral:
        """The readiness wait of wait_ready, to defer to."""

    def finish_ready(self, run: RunContext, arm: str, endpoint: dict, event: dict) -> dict:
        """The trigger's event as an error, or the endpoint once the arm serves its model."""

    def begin_load(self, run: RunContext, resolved: ResolvedSpec, arm: str, point: str, trial: int) -> Path | Deferral:
        """Start the load of (point, trial), or reattach to the one of an earlier attempt: its artifacts when that
        one already finished with complete artifacts, else the wait to defer to."""

    def finish_load(self, run: RunContext, arm: str, point: str, trial: int, event: dict, **kwargs) -> Path:
        """The trigger's event (with the Deferral's kwargs) as an error, or the load's artifacts."""
