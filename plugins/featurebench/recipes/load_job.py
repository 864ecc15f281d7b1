"""The AIPerf load Job of one load point and trial (docker/aiperf): its image, pod settings and command.

The load pod: docker/aiperf (AIPerf pinned like requirements-aiperf.txt; the image tag is that version). Its
trace comes from the results store and its artifacts go back there; on disk it has a pod-local emptyDir (WORK)
and the arm's model cache, read-only, for the tokenizer in HF-cache layout (LOAD_HF_HOME)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from featurebench import settings
from featurebench.errors import RecipeError
from featurebench.layout import artifacts_prefix, traffic_key
from featurebench.recipes.names import dns_name, endpoint_url, resource_name
from featurebench.recipes.pods import _env
from featurebench.recipes.sandbox import render_template
from featurebench.run import COMPONENT_LABEL, POINT_LABEL, TRIAL_LABEL, RunContext
from featurebench.settings import RECIPES_DIR
from featurebench.spec import Arm, ResolvedSpec

# The load pod: docker/aiperf (AIPerf pinned like requirements-aiperf.txt; the image tag is that version). Its
# trace comes from the results store and its artifacts go back there; on disk it has a pod-local emptyDir (WORK)
# and the arm's model cache, read-only, for the tokenizer in HF-cache layout (LOAD_HF_HOME).
AIPERF_VERSION = "0.13.0"


AIPERF_REPOSITORY = "ghcr.io/featurebench/aiperf"


AIPERF_IMAGE = f"{AIPERF_REPOSITORY}:{AIPERF_VERSION}"


LOAD_WORK = "/fb"


LOAD_WORK_SIZE = "50Gi"  # a multimodal trace's images plus the artifacts of a long run


LOAD_HF_HOME = "/model-cache"


MEDIA_PORT = 8080  # http-mode images: the load pod serves them to the engine on its own IP


class LoadConfig(BaseModel):
    """The load pods' cluster settings: `load:` in include/recipes/pools.yaml, each overridable by an environment
    variable (FEATUREBENCH_AIPERF_IMAGE, FEATUREBENCH_LOAD_SERVICE_ACCOUNT, FEATUREBENCH_LOAD_S3_ENV_FROM,
    FEATUREBENCH_LOAD_S3_ENDPOINT_URL). None of them is a secret: a Secret is named, never read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    image: str = Field(default=AIPERF_REPOSITORY, pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")  # [host[:port]/]path, no tag
    service_account: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    s3_env_from: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    s3_endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s@]+$")  # no user:password@

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{AIPERF_VERSION}"  # the tag is the AIPerf version the image was built with


LOAD_ENV = settings.LOAD_ENV


def load_config(path: Path = RECIPES_DIR / "pools.yaml") -> LoadConfig:
    """pools.yaml `load:` with the environment's overrides; the S3 endpoint defaults to the one Airflow uses."""
    raw = dict((yaml.safe_load(Path(path).read_text()) or {}).get("load") or {})
    raw.update(settings.load_overrides())
    raw.setdefault("s3_endpoint_url", None)
    if raw["s3_endpoint_url"] is None:
        raw["s3_endpoint_url"] = settings.s3_endpoint_url()
    try:
        return LoadConfig.model_validate(raw)
    except ValidationError as err:
        raise RecipeError(f"load pod settings ({path} `load:` or {sorted(LOAD_ENV.values())}): {err}") from None


def _aiperf_command(resolved: ResolvedSpec, arm: str, point: str, trial: int, **kwargs) -> list[str]:
    from featurebench.loadgen.aiperf import aiperf_command

    return aiperf_command(resolved, arm, point, trial, **kwargs)


def model_cache(arm: Arm) -> str:
    """The PVC that holds the arm's Hugging Face cache: the volume mounted where its pods' HF_HOME points."""
    d = arm.deploy
    homes = {env["HF_HOME"] for env in (d.env, d.frontend_env, *(w.env for w in d.workers)) if "HF_HOME" in env}
    for v in d.volumes:
        if v.mount in homes and not v.sub_path:
            return v.pvc
    raise RecipeError(f"arm {arm.name}: no volume is mounted at its HF_HOME {sorted(homes)}; the load pod reads "
                      "the tokenizer from that PVC")


def render_load_job(
    resolved: ResolvedSpec, arm_name: str, run: RunContext, point: str, trial: int, *, aiperf_image: str | None = None
) -> dict:
    """The Job that runs AIPerf for one load point and trial of an arm. Contract with docker/aiperf/fb_load.py:
    the command is `fb-load -- aiperf profile ...` whose --artifact-dir (and --input-file) are pod-local paths;
    FEATUREBENCH_ARTIFACTS_URI is the store URI of layout.artifacts_prefix, FEATUREBENCH_TRACE_URI the trace the
    platform uploaded (layout.traffic_key), FEATUREBENCH_MEDIA_MODE how its images reach the server."""
    from featurebench.loadgen.aiperf import aiperf_env, load_settings
    from featurebench.results.store import join_uri
    from featurebench.traces import media_mode

    spec = resolved.spec
    arm = spec.arm(arm_name)
    name = resource_name(run, arm)
    config = load_config()
    traffic, load, _ = load_settings(resolved, "kubernetes")
    artifact_dir = f"{LOAD_WORK}/artifacts"
    input_file = f"{LOAD_WORK}/traffic/{traffic.file}" if traffic.kind == "trace" else None
    try:
        command = _aiperf_command(
            resolved, arm_name, point, trial,
            url=endpoint_url(resolved, arm_name, run), model=spec.model.hf_id, tokenizer=spec.model.hf_id,
            artifact_dir=artifact_dir, input_file=input_file, platform="kubernetes",
        )
    except ValueError as exc:
        raise RecipeError(f"{spec.id}/{arm_name} point {point!r}: {exc}") from None
    env = aiperf_env(hf_home=LOAD_HF_HOME, cache_dir=f"{LOAD_WORK}/cache")
    env["AIPERF_HTTP_CONNECTION_LIMIT"] = "200"  # as every upstream perf job
    env["FEATUREBENCH_ARTIFACTS_URI"] = join_uri(
        run.results_root, artifacts_prefix(run.benchmark, run.date, run.run_id, arm_name, point, trial))
    if input_file:
        env["FEATUREBENCH_TRACE_URI"] = join_uri(
            run.results_root, traffic_key(run.benchmark, run.date, run.run_id, traffic.file))
        mode = media_mode(traffic)
        if mode:
            env["FEATUREBENCH_MEDIA_MODE"] = mode
        if mode == "http":
            env["FEATUREBENCH_MEDIA_PORT"] = str(MEDIA_PORT)
    if config.s3_endpoint_url:
        env["FEATUREBENCH_S3_ENDPOINT_URL"] = config.s3_endpoint_url
    env_list = _env(env)
    if env.get("FEATUREBENCH_MEDIA_MODE") == "http":  # the engine fetches the images from this pod's address
        env_list.append({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    labels = {**run.labels(arm_name), COMPONENT_LABEL: "load", POINT_LABEL: point, TRIAL_LABEL: str(trial)}
    deadline = 2 * (load.duration_s or 3600) + 1800
    serving = {"matchLabels": run.labels(arm_name),
               "matchExpressions": [{"key": COMPONENT_LABEL, "operator": "NotIn", "values": ["load"]}]}
    docs = render_template("aiperf-job.yaml.j2", {
        "name": dns_name(name, f"{point}-t{trial}"),
        "namespace": run.namespace,
        "labels": labels,
        "deadline_s": deadline,
        "serving_selector": serving,
        "service_account": config.service_account,
        "image": aiperf_image or config.image_ref,
        "command": ["fb-load", "--", *command],
        "env": env_list,
        "env_from": [{"secretRef": {"name": config.s3_env_from}}] if config.s3_env_from else [],
        "work": LOAD_WORK,
        "work_size": LOAD_WORK_SIZE,
        "hf_home": LOAD_HF_HOME,
        "model_cache_pvc": model_cache(arm),
    })
    return docs[0]
