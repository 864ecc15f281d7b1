"""Rendering include/recipes: a benchmark arm -> the Kubernetes manifests that deploy and load it.

Templates are rendered in a sandboxed, StrictUndefined Jinja2 environment (recipes.sandbox): a template cannot
reach Python internals, and a variable the code did not pass is an error naming the template, never an empty
string. The code computes every value (names, labels, pod settings, the AIPerf command); the templates only
lay them out, each value through `tojson` (JSON is YAML, so any string - a JSON argument included - stays
exact). Secrets are referenced by name only (`hf-token-secret`, the load pods' S3 Secret); the only values read
from the environment are the load pods' non-secret settings (`load_config`: image repository, S3 endpoint URL,
and the *names* of a service account and a Secret).
"""

from __future__ import annotations

import datetime as dt

from featurebench import settings
from featurebench.errors import RecipeError
from featurebench.recipes.dynamo import _render_dynamo
from featurebench.recipes.load_job import render_load_job
from featurebench.recipes.names import _check_run, resource_name
from featurebench.recipes.pools import pool_for
from featurebench.recipes.vllm import _render_vllm_serve
from featurebench.run import RunContext
from featurebench.spec import ResolvedSpec

PREVIEW_RUN_ID = "render-preview"


def render_deployment(resolved: ResolvedSpec, arm_name: str, run: RunContext) -> list[dict]:
    """The arm's serving manifests: [ComputeDomain], [engine ConfigMap], DGD - or Deployment + Service."""
    _check_run(resolved, run)
    arm = resolved.spec.arm(arm_name)
    _, pool = pool_for(resolved, run.gpu_type)
    name = resource_name(run, arm)
    labels = run.labels(arm_name)
    image = f"{arm.deploy.image}:{run.image_tag}"
    if arm.deploy.kind == "vllm-serve":
        return _render_vllm_serve(arm, run, name=name, labels=labels, pool=pool, image=image)
    return _render_dynamo(arm, run, name=name, labels=labels, pool=pool, image=image)


def render_arm(resolved: ResolvedSpec, arm: str, run: RunContext, *, platform: str = "kubernetes") -> list[dict]:
    """Every manifest of one arm: the serving objects, then one load Job per load point and trial."""
    if platform != "kubernetes":
        raise RecipeError(f"manifests exist for the kubernetes platform only, not {platform!r}")
    docs = render_deployment(resolved, arm, run)
    points = run.points.get(arm) or resolved.spec.load_points(resolved.spec.arm(arm))
    for point in points:
        for trial in range(1, run.trials + 1):
            docs.append(render_load_job(resolved, arm, run, point, trial))
    return docs


def render_run(resolved: ResolvedSpec, run: RunContext) -> list[dict]:
    docs: list[dict] = []
    for arm in run.arms:
        docs.extend(render_arm(resolved, arm, run))
    return docs


def preview_run(resolved: ResolvedSpec, *, arms: list[str] | None = None, gpu_type: str | None = None,
                image_tag: str | None = None, namespace: str = "featurebench", day: dt.date | None = None) -> RunContext:
    """A RunContext for rendering outside Airflow (run id 'render-preview')."""
    spec = resolved.spec
    names = arms or [a.name for a in spec.arms]
    return RunContext(
        benchmark=spec.id,
        run_id=PREVIEW_RUN_ID,
        date=(day or dt.date.today()).isoformat(),
        platform="kubernetes",
        arms=names,
        points={a: spec.load_points(spec.arm(a)) for a in names},
        trials=spec.trials,
        spec_version=resolved.version.version,
        spec_sha256=resolved.source_sha256,
        image_tag=image_tag or resolved.version.image_tag,
        gpu_type=gpu_type or spec.hardware.gpu,
        results_root=settings.results_root(),
        dry_run=True,
        simulated=False,
        namespace=namespace,
    )
