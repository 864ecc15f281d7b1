"""Parity with Dynamo's published recipes: what `render` produces next to upstream's deploy.yaml and perf.yaml.

Both sides are reduced to the same flat view, `{field path: value}`, and compared path by path:

  dgd.<field>                     DGD-level fields (envs, pvcs, backendFramework)
  svc.<Service>.<field>           one pod of the arm (DGD service, or the vllm-serve Deployment as `vllm`):
                                  exec (the program's argv), ulimit, env.<NAME>, mounts.<path>, security.<...>,
                                  resources.<...>, nodeSelector.<key>, tolerations, affinity, <probe>.<...>,
                                  replicas, nodeCount, componentType, ... and any field not named here, raw
  engine.<file>.<key>             the engine config files (ConfigMap data)
  load.run.<flag>                 the measured `aiperf profile` (canonical flag names)
  load.warmup.<flag>              a separate warmup `aiperf profile` run before it, if any
  load.env.<AIPERF_*>             AIPerf's environment;  load.packages.<name>  pinned Python packages
  load.ulimit.<flag>, load.pod.<field>   the load pod's limits and placement

Shell scripts (upstream's perf.yaml, a `bash -lc` container command, our `ulimit` wrapper) are not parsed: they
are run by bash with recording stand-ins on PATH (aiperf, pip, vllm, python3, curl, ...) and `ulimit`/`exit` as
functions, so bash itself does quoting, `$VAR` expansion, loops and arithmetic. Normalised as equivalent, and
nothing else: env order and env layers (service envs vs container env), quoting and `$(VAR)` expansion,
pod- vs container-level securityContext, Kubernetes and AIPerf defaults (`DEFAULTS`), AIPerf flag aliases,
naming plumbing (object names, labels, image tags, ConfigMap and claim-template names, artifact paths).

A difference is `(path, ours, upstream)`; `undeclared()` drops those a spec's `parity.deviations` (or the
project-wide include/recipes/deviations.yaml) declares, and `stale()` lists declarations that match nothing.

This module loads upstream's files and compares; the views are built in parity_views (serving manifests),
parity_load (the load pod) and parity_shell (scripts run with recording stand-ins).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from featurebench import settings
from featurebench.recipes.parity_load import image_packages, our_load_view, upstream_load_view
from featurebench.recipes.parity_views import MISSING, deployment_view
from featurebench.run import ARM_LABEL
from featurebench.settings import RECIPES_DIR
from featurebench.spec import BenchmarkSpec

UPSTREAM_ENV = settings.UPSTREAM_ENV
PROJECT_DEVIATIONS = RECIPES_DIR / "deviations.yaml"


def upstream_root() -> Path:
    """Where the verbatim upstream copies are: $FEATUREBENCH_UPSTREAM_DIR, else ../shared/reference/upstream."""
    return settings.upstream_dir()


@dataclass(frozen=True)
class Difference:
    path: str
    ours: Any
    upstream: Any

    def __str__(self) -> str:
        return f"{self.path}: ours {_show(self.ours)} | upstream {_show(self.upstream)}"


def _show(value: Any) -> str:
    return MISSING if value is MISSING else json.dumps(value, ensure_ascii=False)


# ------------------------------------------------------------------------------------------- upstream


def _substitute(text: str, env_file: Path | None) -> str:
    """envsubst with an upstream hw/*.env file (`export K='V'` lines), as upstream's wrapper does."""
    if env_file is None:
        return text
    values = {}
    for line in env_file.read_text().splitlines():
        parts = shlex.split(line, comments=True)
        if parts[:1] == ["export"] and "=" in parts[1]:
            key, value = parts[1].split("=", 1)
            values[key] = value
    return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def load_upstream(path: Path, env_file: Path | None = None) -> list[dict]:
    return [d for d in yaml.safe_load_all(_substitute(path.read_text(), env_file)) if isinstance(d, dict)]


def diff(ours: dict[str, Any], upstream: dict[str, Any]) -> list[Difference]:
    out = []
    for path in sorted(set(ours) | set(upstream)):
        a, b = ours.get(path, MISSING), upstream.get(path, MISSING)
        if a != b:
            out.append(Difference(path, a, b))
    return out


def declared(spec: BenchmarkSpec) -> list[tuple[str, str, list[str]]]:
    """(path pattern, reason, arms) from the spec's parity.deviations and the project-wide list."""
    project = yaml.safe_load(PROJECT_DEVIATIONS.read_text()) or {}
    items = [*project.get("deviations", []), *[d.model_dump() for d in (spec.parity.deviations if spec.parity else [])]]
    return [(d["path"], d["reason"], d.get("arms") or []) for d in items]


def _declares(pattern: str, arms: list[str], arm: str, path: str) -> bool:
    return (not arms or arm in arms) and fnmatch.fnmatchcase(path, pattern)


def undeclared(spec: BenchmarkSpec, arm: str, diffs: list[Difference]) -> list[Difference]:
    decl = declared(spec)
    return [d for d in diffs if not any(_declares(p, arms, arm, d.path) for p, _, arms in decl)]


def stale(spec: BenchmarkSpec, diffs_by_arm: dict[str, list[Difference]]) -> list[str]:
    """Spec declarations that match no difference in any arm (a fixed difference must lose its declaration)."""
    own = spec.parity.deviations if spec.parity else []
    return [d.path for d in own if not any(_declares(d.path, d.arms, arm, x.path)
                                            for arm, diffs in diffs_by_arm.items() for x in diffs)]


def arm_differences(resolved, arm_name: str, root: Path | None = None) -> list[Difference]:
    """Every difference between one arm as `render` makes it and its upstream deploy + perf files."""
    from featurebench.recipes.load_job import render_load_job
    from featurebench.recipes.render import preview_run, render_deployment

    spec = resolved.spec
    root = root or upstream_root()
    up = spec.parity.arms[arm_name]
    env_file = root / up.env_file if up.env_file else None
    upstream_deploy = load_upstream(root / up.deploy, env_file)
    (upstream_perf,) = [d for d in load_upstream(root / up.perf, env_file) if d.get("kind") in ("Job", "Pod")]
    run = preview_run(resolved, arms=[arm_name])
    ours_deploy = render_deployment(resolved, arm_name, run)
    point = run.points[arm_name][0]
    job = render_load_job(resolved, arm_name, run, point, 1)
    names = {d["metadata"]["name"] for d in upstream_deploy if d.get("kind") in ("DynamoGraphDeployment", "Deployment")}
    own = {*names, ARM_LABEL, *(d["metadata"]["name"] for d in ours_deploy)}
    pin = settings.pin_hostname()
    ours = {**deployment_view(ours_deploy, own=own, pin=pin), **our_load_view(job, image_packages(), own, pin)}
    theirs = {**deployment_view(upstream_deploy, own=own, pin=pin), **upstream_load_view(upstream_perf, own, pin)}
    return diff(ours, theirs)
