"""What every spec model shares: strict, frozen pydantic models, and the slug, image-tag and load-point patterns."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

# Patterns are anchored for JSON Schema (the trigger form) and must be applied with `fullmatch`: `$` alone
# also matches before a trailing newline ("1.3.1\n"), and a newline in a value breaks manifests and paths.
SLUG = r"^[a-z0-9][a-z0-9-]*$"
# replay-xK: a speed-up K > 0 (AIPerf refuses 0); cN: concurrency 1..99999
REPLAY_POINT = r"^replay(-x([1-9][0-9]*(\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*))?$"
LOAD_POINT = re.compile(r"^(c[1-9][0-9]{0,4}|" + REPLAY_POINT[1:-1] + r")$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")  # a container image tag, as Docker allows it
MAX_TRIALS = 10  # per load point, in a spec and in the trigger form: each trial is a load run and a Job
MAX_LOAD_POINTS = 16  # per arm: points x trials x arms is how many load runs (and manifests) a run makes


def check_levels(levels: list[int] | None, what: str) -> None:
    """Concurrency levels: each positive, none twice (a repeated point would overwrite the other's results)."""
    if not levels:
        return
    if any(c <= 0 for c in levels):
        raise ValueError(f"{what} levels must be positive: {levels}")
    if len(set(levels)) != len(levels):
        raise ValueError(f"{what} levels repeat: {levels}")
    if len(levels) > MAX_LOAD_POINTS:
        raise ValueError(f"{what}: at most {MAX_LOAD_POINTS} levels, got {len(levels)}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
