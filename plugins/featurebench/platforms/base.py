"""The Platform protocol every platform implements, and the lookup by name."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from featurebench.run import RunContext
from featurebench.spec import ResolvedSpec


class Platform(Protocol):
    name: str

    def provision(self, run: RunContext, resolved: ResolvedSpec, arm: str) -> dict:
        """Create the arm's deployment. Idempotent: a retry finds what it made. Returns an endpoint dict
        (at least {"url": ..., "model": ...}) that wait_ready and run_load take."""

    def wait_ready(self, run: RunContext, resolved: ResolvedSpec, arm: str, endpoint: dict) -> dict:
        """Block (or defer) until the arm serves its model; fail fast with the reason. Returns the endpoint."""

    def run_load(
        self, run: RunContext, resolved: ResolvedSpec, arm: str, endpoint: dict, point: str, trial: int
    ) -> Path:
        """Run AIPerf for one load point and trial; return a local folder holding its artifacts."""

    def teardown(self, run: RunContext, arm: str) -> list[str]:
        """Delete everything this run made for the arm, found by run id + arm (never by re-derived names).
        Safe to call when nothing was made. Returns what was removed."""


def get_platform(name: str) -> Platform:
    if name == "local":
        from featurebench.platforms.local import LocalPlatform

        return LocalPlatform()
    if name == "kubernetes":
        from featurebench.platforms.kubernetes import KubernetesPlatform

        return KubernetesPlatform()
    raise ValueError(f"unknown platform {name!r}: choose local or kubernetes")
