"""Names, labels and checks of what goes into a manifest: DNS-1123 names unique per run and arm, the in-cluster
URL of an arm, and the trigger values (image tag, GPU type, namespace, image) validated before any template sees
them."""

from __future__ import annotations

import hashlib
import re

from featurebench.errors import RecipeError
from featurebench.run import RunContext
from featurebench.spec import IMAGE_TAG, Arm, ResolvedSpec

HF_TOKEN_SECRET = "hf-token-secret"  # named in manifests, never read
DGD_FRONTEND_PORT = 8000  # the operator's frontend Service port

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def is_label_value(value: str) -> bool:
    """A valid Kubernetes label value: at most 63 characters of LABEL_VALUE."""
    return len(value) <= 63 and LABEL_VALUE.fullmatch(value) is not None


IMAGE_REF = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:" + IMAGE_TAG.pattern[1:-1] + ")$")  # with its tag


MAX_BASE = 41  # <base>-<8 hex> is <= 50 chars, so <name>-frontend / -cd-channel stay within 63


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
    if not DNS_LABEL.fullmatch(name):
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
        return service_url(name, run.namespace, arm.deploy.serve.port)
    return service_url(frontend_service(name), run.namespace, DGD_FRONTEND_PORT)


def frontend_service(dgd_name: str) -> str:
    """The Service the Dynamo operator makes for a DGD's frontend."""
    return f"{dgd_name}-frontend"


def service_url(service: str, namespace: str, port: int) -> str:
    """The one in-cluster URL form of a Service (resolves from any pod through the cluster's search path)."""
    return f"http://{service}.{namespace}.svc:{port}"


def validate_overrides(resolved: ResolvedSpec, overrides: dict) -> dict:
    """Check values that come from a trigger form (or the CLI) before any of them reaches a template."""
    spec = resolved.spec
    known = {"image_tag", "gpu_type", "namespace", "aiperf_image"}
    unknown = set(overrides) - known
    if unknown:
        raise RecipeError(f"{spec.id}: unknown override(s) {sorted(unknown)}; known: {sorted(known)}")
    problems = []
    tag = overrides.get("image_tag")
    if tag is not None and (not isinstance(tag, str) or not IMAGE_TAG.fullmatch(tag)):
        problems.append(f"image_tag {tag!r}: letters, digits, '.', '_' and '-' only (max 128)")
    if problem := spec.hardware.gpu_type_problem(overrides.get("gpu_type")):
        problems.append(problem)
    ns = overrides.get("namespace")
    if ns is not None and (not isinstance(ns, str) or len(ns) > 63 or not DNS_LABEL.fullmatch(ns)):
        problems.append(f"namespace {ns!r}: a DNS-1123 label (lower-case letters, digits, '-'; max 63)")
    image = overrides.get("aiperf_image")
    if image is not None and (not isinstance(image, str) or not IMAGE_REF.fullmatch(image)):
        problems.append(f"aiperf_image {image!r}: an image reference with an explicit tag")
    if problems:
        raise RecipeError(f"{spec.id}: invalid values:\n  - " + "\n  - ".join(problems))
    return dict(overrides)


def _check_run(resolved: ResolvedSpec, run: RunContext) -> None:
    """The run's form-derived values and labels must be safe before they are put into manifests."""
    validate_overrides(resolved, {"image_tag": run.image_tag, "gpu_type": run.gpu_type, "namespace": run.namespace})
    for key, value in run.labels("x").items():
        if not is_label_value(value):
            raise RecipeError(f"label {key}={value!r} is not a valid Kubernetes label value (max 63 chars)")
    if run.benchmark != resolved.spec.id:
        raise RecipeError(f"run is for {run.benchmark!r} but the spec is {resolved.spec.id!r}")
