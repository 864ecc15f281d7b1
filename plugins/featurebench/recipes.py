"""Rendering include/recipes: a benchmark arm -> the Kubernetes manifests that deploy and load it.

Templates are rendered in a sandboxed, StrictUndefined Jinja2 environment: a template cannot reach Python
internals, and a variable the code did not pass is an error naming the template, never an empty string.
The code below computes every value (names, labels, pod settings, the AIPerf command); the templates only
lay them out, each value through `tojson` (JSON is YAML, so any string - a JSON argument included - stays
exact). Secrets are referenced by name only (`hf-token-secret`, the load pods' S3 Secret); the only values read
from the environment are the load pods' non-secret settings (`load_config`: image repository, S3 endpoint URL,
and the *names* of a service account and a Secret).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import traceback
from functools import lru_cache
from pathlib import Path

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, Undefined, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from featurebench.layout import artifacts_prefix, traffic_key
from featurebench.run import RunContext
from featurebench.spec import REPO_ROOT, SLUG, Arm, PodSettings, Probe, ResolvedSpec, SpecError, Worker, load_spec

RECIPES_DIR = REPO_ROOT / "include" / "recipes"
HF_TOKEN_SECRET = "hf-token-secret"
PREVIEW_RUN_ID = "render-preview"

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

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
IMAGE_REF = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$")
MAX_BASE = 41  # <base>-<8 hex> is <= 50 chars, so <name>-frontend / -cd-channel stay within 63


class RecipeError(ValueError):
    """A manifest that cannot be rendered; the message names the template or the bad value."""


# ---------------------------------------------------------------------------------------------- pools


class Toleration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None


class Pool(BaseModel):
    """A GPU pool of include/recipes/pools.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    airflow_pool: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    gpus: int = Field(gt=0)
    gpu_types: list[str] = Field(min_length=1)
    gpu_resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []


@lru_cache(maxsize=4)
def load_pools(path: Path = RECIPES_DIR / "pools.yaml") -> dict[str, Pool]:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    try:
        pools = {name: Pool.model_validate(body) for name, body in (raw.get("pools") or {}).items()}
    except ValidationError as err:
        raise RecipeError(f"{path}: {err}") from None
    bad = [n for n in pools if not re.match(SLUG, n)]
    if bad:
        raise RecipeError(f"{path}: pool names must be slugs: {bad}")
    return pools


def pool_for(resolved: ResolvedSpec, gpu_type: str | None) -> tuple[str, Pool]:
    hw = resolved.spec.hardware
    try:
        name = hw.pool_for(gpu_type)
    except ValueError as exc:
        raise RecipeError(f"{resolved.spec.id}: {exc}") from None
    pools = load_pools()
    if name not in pools:
        raise RecipeError(f"{resolved.spec.id}: GPU pool {name!r} is not in include/recipes/pools.yaml ({sorted(pools)})")
    return name, pools[name]


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


LOAD_ENV = {"image": "FEATUREBENCH_AIPERF_IMAGE", "service_account": "FEATUREBENCH_LOAD_SERVICE_ACCOUNT",
            "s3_env_from": "FEATUREBENCH_LOAD_S3_ENV_FROM", "s3_endpoint_url": "FEATUREBENCH_LOAD_S3_ENDPOINT_URL"}


def load_config(path: Path = RECIPES_DIR / "pools.yaml") -> LoadConfig:
    """pools.yaml `load:` with the environment's overrides; the S3 endpoint defaults to the one Airflow uses."""
    import os

    from featurebench.store import s3_endpoint_url

    raw = dict((yaml.safe_load(Path(path).read_text()) or {}).get("load") or {})
    raw.update({key: os.environ[var] for key, var in LOAD_ENV.items() if os.environ.get(var)})
    raw.setdefault("s3_endpoint_url", None)
    if raw["s3_endpoint_url"] is None:
        raw["s3_endpoint_url"] = s3_endpoint_url()
    try:
        return LoadConfig.model_validate(raw)
    except ValidationError as err:
        raise RecipeError(f"load pod settings ({path} `load:` or {sorted(LOAD_ENV.values())}): {err}") from None


# ------------------------------------------------------------------------------------------ templates


def _tojson(value) -> str:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the variable
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(RECIPES_DIR)),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = _tojson  # plain JSON; Jinja's own escapes <, >, & and ' for HTML
    return env


def _template_line(exc: BaseException, template: str) -> str:
    """' line N' of the template where rendering failed (Jinja rewrites tracebacks to template lines)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(template):
            return f" line {frame.lineno}"
    return ""


def render_template(template: str, context: dict) -> list[dict]:
    """Render one template and parse its YAML documents."""
    try:
        text = environment().get_template(template).render(**context)
    except UndefinedError as exc:
        raise RecipeError(f"{RECIPES_DIR / template}{_template_line(exc, template)}: undefined variable: {exc}") from None
    except TemplateError as exc:
        raise RecipeError(f"{RECIPES_DIR / template}: {exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise RecipeError(f"{RECIPES_DIR / template}: rendered text is not valid YAML: {exc}") from None
    if not all(isinstance(d, dict) for d in docs):
        raise RecipeError(f"{RECIPES_DIR / template}: every rendered document must be a mapping")
    return docs


# --------------------------------------------------------------------------------- names and checks


def short_hash(run: RunContext, arm: str) -> str:
    """8 hex chars that make an arm's names unique per run (two arms may deploy the same base name)."""
    return hashlib.sha256(f"{run.benchmark}/{run.run_id}/{arm}".encode()).hexdigest()[:8]


def dns_name(base: str, suffix: str, limit: int = 63) -> str:
    """`<base>-<suffix>` as a DNS-1123 label of at most `limit` chars (base shortened, suffix kept)."""
    base = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")
    suffix = re.sub(r"[^a-z0-9-]+", "-", suffix.lower()).strip("-")
    room = limit - len(suffix) - 1
    if room < 1:
        raise RecipeError(f"name suffix {suffix!r} leaves no room within {limit} characters")
    name = f"{base[:room].rstrip('-')}-{suffix}"
    if not DNS_LABEL.match(name):
        raise RecipeError(f"{name!r} is not a DNS-1123 label")
    return name


def resource_name(run: RunContext, arm: Arm) -> str:
    """Name of the arm's DGD or Deployment: <deploy.name>-<short run hash>."""
    return dns_name(arm.deploy.name[:MAX_BASE], short_hash(run, arm.name), limit=50)


def endpoint_url(resolved: ResolvedSpec, arm_name: str, run: RunContext) -> str:
    """The OpenAI-compatible URL of an arm inside the cluster (DGD frontend Service or vllm-serve Service)."""
    arm = resolved.spec.arm(arm_name)
    name = resource_name(run, arm)
    if arm.deploy.kind == "vllm-serve":
        return f"http://{name}.{run.namespace}.svc:{arm.deploy.serve.port}"
    return f"http://{name}-frontend.{run.namespace}.svc:8000"


def validate_overrides(resolved: ResolvedSpec, overrides: dict) -> dict:
    """Check values that come from a trigger form (or the CLI) before any of them reaches a template."""
    spec = resolved.spec
    known = {"image_tag", "gpu_type", "namespace", "aiperf_image"}
    unknown = set(overrides) - known
    if unknown:
        raise RecipeError(f"{spec.id}: unknown override(s) {sorted(unknown)}; known: {sorted(known)}")
    problems = []
    tag = overrides.get("image_tag")
    if tag is not None and (not isinstance(tag, str) or not IMAGE_TAG.match(tag)):
        problems.append(f"image_tag {tag!r}: letters, digits, '.', '_' and '-' only (max 128)")
    gpu = overrides.get("gpu_type")
    if gpu is not None and gpu not in spec.hardware.gpu_types:
        problems.append(f"gpu_type {gpu!r}: this benchmark runs on {spec.hardware.gpu_types}")
    ns = overrides.get("namespace")
    if ns is not None and (not isinstance(ns, str) or len(ns) > 63 or not DNS_LABEL.match(ns)):
        problems.append(f"namespace {ns!r}: a DNS-1123 label (lower-case letters, digits, '-'; max 63)")
    image = overrides.get("aiperf_image")
    if image is not None and (not isinstance(image, str) or not IMAGE_REF.match(image)):
        problems.append(f"aiperf_image {image!r}: an image reference with an explicit tag")
    if problems:
        raise RecipeError(f"{spec.id}: invalid values:\n  - " + "\n  - ".join(problems))
    return dict(overrides)


def _check_run(resolved: ResolvedSpec, run: RunContext) -> None:
    """The run's form-derived values and labels must be safe before they are put into manifests."""
    validate_overrides(resolved, {"image_tag": run.image_tag, "gpu_type": run.gpu_type, "namespace": run.namespace})
    for key, value in run.labels("x").items():
        if len(value) > 63 or not LABEL_VALUE.match(value):
            raise RecipeError(f"label {key}={value!r} is not a valid Kubernetes label value (max 63 chars)")
    if run.benchmark != resolved.spec.id:
        raise RecipeError(f"run is for {run.benchmark!r} but the spec is {resolved.spec.id!r}")


# --------------------------------------------------------------------------------------- pod pieces


def _env(values: dict[str, str]) -> list[dict]:
    return [{"name": k, "value": str(v)} for k, v in values.items()]


def _probe(p: Probe) -> dict:
    return {
        "httpGet": {"path": p.path, "port": p.port},
        "initialDelaySeconds": p.initial_delay_s,
        "periodSeconds": p.period_s,
        "timeoutSeconds": p.timeout_s,
        "failureThreshold": p.failure_threshold,
    }


def _command(base: list[str], pod: PodSettings) -> list[str]:
    if pod.memlock_unlimited:
        # raise the locked-memory limit, then exec the engine with its argv untouched (no shell quoting)
        return ["/bin/sh", "-c", 'ulimit -l unlimited && exec "$@"', "sh", *base]
    return base


def _pod_spec(pod: PodSettings, *, gpu_pool: Pool | None, run: RunContext, arm: str) -> dict:
    """PodSpec-level fields (only those that are set): placement, security, affinity."""
    out: dict = {}
    selector = {**(gpu_pool.node_selector if gpu_pool else {}), **pod.node_selector}
    if selector:
        out["nodeSelector"] = selector
    tolerations = [t.model_dump(exclude_none=True) for t in (gpu_pool.tolerations if gpu_pool else [])]
    tolerations += [t.model_dump(exclude_none=True) for t in pod.tolerations]
    if tolerations:
        out["tolerations"] = tolerations
    if pod.run_as_user is not None:
        out["securityContext"] = {"runAsUser": pod.run_as_user}
    if pod.same_node:
        out.update(same_node_placement(run, arm, out.get("nodeSelector", {})))
    if pod.colocate_workers:
        out["affinity"] = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {
                    **run.labels(arm), "nvidia.com/dynamo-component-type": "worker"}},
            },
        }]}}
    return out


def same_node_placement(run: RunContext, arm: str, selector: dict) -> dict:
    """Every pod of the arm (the load pod too) on one node: the pinned hostname when one is configured, as
    upstream pins it (podAffinity does not hold under gang scheduling); else a required podAffinity to the arm's
    pods (the first pod may go anywhere, the others follow it)."""
    host = pin_hostname()
    if host:
        return {"nodeSelector": {**selector, "kubernetes.io/hostname": host}}
    return {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": run.labels(arm)}}]}}}


def _container_extras(pod: PodSettings) -> dict:
    out: dict = {}
    if pod.pod_uid_env:
        out["env"] = [{"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}]
    if pod.working_dir:
        out["workingDir"] = pod.working_dir
    if pod.startup_probe:
        out["startupProbe"] = _probe(pod.startup_probe)
    if pod.capabilities:
        out["securityContext"] = {"capabilities": {"add": list(pod.capabilities)}}
    return out


def _cpu_mem(res) -> tuple[dict, dict]:
    requests, limits = {}, {}
    if res is not None:
        for key, value in (("cpu", res.cpu), ("memory", res.memory)):
            if value:
                requests[key] = value
        for key, value in (("cpu", res.cpu_limit), ("memory", res.memory_limit)):
            if value:
                limits[key] = value
    return requests, limits


# ------------------------------------------------------------------------------------- DGD rendering

ENGINE_MODULE = {"vllm": "dynamo.vllm", "trtllm": "dynamo.trtllm", "sglang": "dynamo.sglang"}
CD_CLAIM = "compute-domain-channel"


def _frontend(arm: Arm, run: RunContext) -> dict:
    d = arm.deploy
    requests, limits = _cpu_mem(d.frontend_resources)
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {
        "name": "Frontend",
        "component_type": "frontend",
        "sub_component_type": None,
        "replicas": 1,
        "node_count": None,
        "env_from_secret": None,
        "env": _env(d.frontend_env),
        "resources": resources,
        "shared_memory": None,
        "volume_mounts": [{"name": v.pvc, "mountPoint": v.mount} for v in d.volumes if v.frontend],
        "command": ["python3", "-m", "dynamo.frontend"],
        "args": ["--router-mode", d.router_mode, *d.frontend_args],
        "pod": _pod_spec(d.pod, gpu_pool=None, run=run, arm=arm.name),
        # the deployment-wide container settings; probes and capabilities are the workers'
        "container": {k: v for k, v in _container_extras(d.pod).items() if k in ("env", "workingDir")},
    }


def _worker(arm: Arm, w: Worker, run: RunContext, *, name: str, pool: Pool) -> dict:
    d = arm.deploy
    pod = d.pod.merged(w.pod)
    gpus = str(w.gpus_per_pod)
    requests, limits = _cpu_mem(w.resources)
    resources: dict = {"requests": {**requests, "gpu": gpus}, "limits": {**limits, "gpu": gpus}}
    if pool.gpu_resource != "nvidia.com/gpu":
        resources["limits"]["gpuType"] = pool.gpu_resource
    if w.resources and w.resources.custom:
        resources["limits"]["custom"] = dict(w.resources.custom)
    pod_spec = _pod_spec(pod, gpu_pool=pool, run=run, arm=arm.name)
    container = _container_extras(pod)
    if d.compute_domain:
        resources["claims"] = [{"name": CD_CLAIM}]
        pod_spec["resourceClaims"] = [{"name": CD_CLAIM, "resourceClaimTemplateName": f"{name}-cd-channel"}]
    if w.config_file:
        pod_spec["volumes"] = [{"name": "engine-config", "configMap": {"name": f"{name}-config"}}]
        container["volumeMounts"] = [{"name": "engine-config", "mountPath": "/config", "readOnly": True}]
    return {
        "name": w.name,
        "component_type": "worker",
        "sub_component_type": w.sub_component_type or (w.role if w.role in ("prefill", "decode") else None),
        "replicas": w.replicas,
        "node_count": w.nodes_per_replica if w.nodes_per_replica > 1 else None,
        "env_from_secret": HF_TOKEN_SECRET if d.needs_hf_token else None,
        "env": _env(w.env),
        "resources": resources,
        "shared_memory": w.shared_memory,
        "volume_mounts": [
            {"name": v.pvc, "mountPoint": v.mount, **({"useAsCompilationCache": True} if v.compilation_cache else {})}
            for v in d.volumes
        ],
        "command": _command(["python3", "-m", ENGINE_MODULE[d.backend]], pod),
        "args": list(w.args),
        "pod": pod_spec,
        "container": container,
    }


def _render_dynamo(arm: Arm, run: RunContext, *, name: str, labels: dict, pool: Pool, image: str) -> list[dict]:
    d = arm.deploy
    docs: list[dict] = []
    if d.compute_domain:
        docs += render_template("compute-domain.yaml.j2", {
            "name": f"{name}-cd", "namespace": run.namespace, "labels": labels,
            "channel_template": f"{name}-cd-channel",
        })
    files = {w.config_file: yaml.safe_dump(w.engine_config, sort_keys=False) for w in d.workers if w.config_file}
    if files:
        docs += render_template("engine-config.yaml.j2", {
            "name": f"{name}-config", "namespace": run.namespace, "labels": labels, "files": files,
        })
    docs += render_template("dynamo-graph.yaml.j2", {
        "name": name,
        "namespace": run.namespace,
        "labels": labels,
        "backend": d.backend,
        "image": image,
        "pvcs": list(dict.fromkeys(v.pvc for v in d.volumes)),
        "env": _env(d.env),
        "services": [_frontend(arm, run), *[_worker(arm, w, run, name=name, pool=pool) for w in d.workers]],
    })
    return docs


def _render_vllm_serve(arm: Arm, run: RunContext, *, name: str, labels: dict, pool: Pool, image: str) -> list[dict]:
    d = arm.deploy
    w = d.workers[0]
    pod = d.pod.merged(w.pod)
    selector = {**labels, "app.kubernetes.io/name": name}
    pvcs = list(dict.fromkeys(v.pvc for v in d.volumes))
    volumes = [{"name": p, "persistentVolumeClaim": {"claimName": p}} for p in pvcs]
    mounts = [{"name": v.pvc, "mountPath": v.mount, **({"subPath": v.sub_path} if v.sub_path else {})} for v in d.volumes]
    if w.shared_memory:  # /dev/shm as a memory-backed emptyDir, as upstream
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": w.shared_memory}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    requests, limits = _cpu_mem(w.resources)
    gpus = str(w.gpus_per_pod)
    resources = {"requests": {**requests, pool.gpu_resource: gpus},
                 "limits": {**limits, pool.gpu_resource: gpus, **(w.resources.custom if w.resources else {})}}
    return render_template("vllm-serve.yaml.j2", {
        "name": name,
        "namespace": run.namespace,
        "labels": selector,
        "selector": selector,
        "progress_deadline_s": d.serve.progress_deadline_s,
        "pod": _pod_spec(pod, gpu_pool=pool, run=run, arm=arm.name),
        "volumes": volumes,
        "image": image,
        "command": _command(["vllm", "serve"], pod),
        "args": list(w.args),
        "env": _env({**d.env, **w.env}),
        "env_from_secret": HF_TOKEN_SECRET if d.needs_hf_token else None,
        "port": d.serve.port,
        "readiness_probe": _probe(d.serve.readiness_probe),
        "resources": resources,
        "volume_mounts": mounts,
        "container": _container_extras(pod),
    })


# ------------------------------------------------------------------------------------------ load Job


def _aiperf_command(resolved: ResolvedSpec, arm: str, point: str, trial: int, **kwargs) -> list[str]:
    from featurebench.load import aiperf_command

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
    from featurebench.load import aiperf_env, load_settings, warmup_command
    from featurebench.store import join_uri
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
    warmup = warmup_command(resolved, url=endpoint_url(resolved, arm_name, run), model=spec.model.hf_id,
                            tokenizer=spec.model.hf_id, artifact_dir=f"{LOAD_WORK}/warmup", platform="kubernetes")
    env = aiperf_env(hf_home=LOAD_HF_HOME, cache_dir=f"{LOAD_WORK}/cache")
    env["AIPERF_HTTP_CONNECTION_LIMIT"] = "200"  # as every upstream perf job
    env.update(load.env)  # the spec's AIPerf settings (upstream's timeouts)
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
    labels = {**run.labels(arm_name), "featurebench/component": "load", "featurebench/point": point,
              "featurebench/trial": str(trial)}
    deadline = 2 * (load.duration_s or 3600) + 1800
    serving = {"matchLabels": run.labels(arm_name),
               "matchExpressions": [{"key": "featurebench/component", "operator": "NotIn", "values": ["load"]}]}
    if arm.deploy.pod.same_node:  # upstream keeps the load pod with the arm (e.g. a same-node embedding copy)
        placement = same_node_placement(run, arm_name, {})
    else:  # prefer a node without the arm's serving pods, so load generation does not steal their CPUs
        placement = {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": serving}}]}}}
    docs = render_template("aiperf-job.yaml.j2", {
        "name": dns_name(name, f"{point}-t{trial}"),
        "namespace": run.namespace,
        "labels": labels,
        "deadline_s": deadline,
        "placement": placement,
        "service_account": config.service_account,
        "image": aiperf_image or config.image_ref,
        "command": ["fb-load", *(["--", *warmup] if warmup else []), "--", *command],
        "env": env_list,
        "env_from": [{"secretRef": {"name": config.s3_env_from}}] if config.s3_env_from else [],
        "work": LOAD_WORK,
        "work_size": LOAD_WORK_SIZE,
        "hf_home": LOAD_HF_HOME,
        "model_cache_pvc": model_cache(arm),
    })
    return docs[0]


# ------------------------------------------------------------------------------------ model download

HF_HUB_VERSION = "1.16.4"  # the download Job's huggingface_hub
HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def arm_models(resolved: ResolvedSpec, arm: Arm) -> list[tuple[str, str]]:
    """(HF id, revision) of every model an arm loads: the target, and the draft when the arm's engine configs or
    arguments name it (a speculative-decoding arm)."""
    model = resolved.spec.model
    out = [(model.hf_id, model.revision)]
    if model.draft:
        text = json.dumps([[w.args, w.engine_config, w.env] for w in arm.deploy.workers])
        if model.draft in text:
            out.append((model.draft, model.draft_revision))
    for hf_id, rev in out:
        if not HF_ID.match(hf_id) or not REVISION.match(rev):
            raise RecipeError(f"{resolved.spec.id}: model {hf_id!r} at revision {rev!r} is not an org/name and revision")
    return out


def render_model_download(resolved: ResolvedSpec, arms: list[str] | None = None,
                          namespace: str = "featurebench") -> list[dict]:
    """One download Job per model-cache PVC the arms mount, fetching every model those arms need."""
    spec = resolved.spec
    by_pvc: dict[str, dict[str, None]] = {}
    for arm in (spec.arm(a) for a in arms or [a.name for a in spec.arms]):
        by_pvc.setdefault(model_cache(arm), {}).update(dict.fromkeys(f"{i}@{r}" for i, r in arm_models(resolved, arm)))
    docs = []
    for pvc, models in by_pvc.items():
        docs += render_template("model-download.yaml.j2", {
            "name": dns_name(f"model-download-{spec.id}"[:40], pvc), "namespace": namespace, "benchmark": spec.id,
            "hub_version": HF_HUB_VERSION, "models": list(models), "pvc": pvc,
        })
    return docs


# ------------------------------------------------------------------------------------------ public


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
    from featurebench.run import results_root

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
        results_root=results_root(),
        dry_run=True,
        simulated=False,
        namespace=namespace,
    )


def render_cli(argv: list[str] | None = None) -> int:
    """`python -m featurebench render <benchmark-id> [--arm NAME] [--platform kubernetes]`: every manifest of
    the run as multi-document YAML on stdout; errors on stderr and a non-zero exit."""
    parser = argparse.ArgumentParser(prog="featurebench render", description=render_cli.__doc__)
    parser.add_argument("benchmark")
    parser.add_argument("--arm", action="append", help="only this arm (repeatable); default: all arms")
    parser.add_argument("--platform", default="kubernetes", choices=["kubernetes"])
    parser.add_argument("--date", type=dt.date.fromisoformat, help="resolve the spec version in force on this date")
    parser.add_argument("--gpu-type", help="one of the benchmark's GPU types (picks the pool)")
    parser.add_argument("--image-tag", help="override the version's image tag")
    parser.add_argument("--namespace", default="featurebench")
    parser.add_argument("--model-download", action="store_true",
                        help="only the Job that downloads the arms' models (target and draft) into their model cache")
    args = parser.parse_args(argv)
    try:
        spec_file = load_spec(args.benchmark)
        resolved = spec_file.resolve(args.date) if args.date else spec_file.latest
        validate_overrides(resolved, {k: v for k, v in (("gpu_type", args.gpu_type), ("image_tag", args.image_tag),
                                                         ("namespace", args.namespace)) if v is not None})
        for arm in args.arm or []:
            resolved.spec.arm(arm)
        run = preview_run(resolved, arms=args.arm, gpu_type=args.gpu_type, image_tag=args.image_tag,
                          namespace=args.namespace, day=args.date)
        if args.model_download:
            docs = render_model_download(resolved, args.arm, args.namespace)
        else:
            docs = render_run(resolved, run)
    except (SpecError, RecipeError, KeyError) as exc:
        print(f"featurebench render: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    sys.stdout.write(dump_yaml(docs))
    return 0


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings (the engine configs) as readable `|` blocks."""


_Dumper.add_representer(
    str,
    lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None),
)


def dump_yaml(docs: list[dict]) -> str:
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=120)


PIN_HOSTNAME_ENV = "FEATUREBENCH_PIN_HOSTNAME"


def pin_hostname() -> str | None:
    """The node an arm with `same_node` pods is pinned to (kubernetes.io/hostname), from the environment."""
    import os

    return os.environ.get(PIN_HOSTNAME_ENV) or None
