"""The model-download Job of a benchmark (include/recipes/model-download.yaml.j2): every model its arms load,
the target and any speculative-decoding draft, at the spec's pinned revision, into the arms' model cache."""

from __future__ import annotations

import json
import re

from featurebench.errors import RecipeError
from featurebench.recipes.load_job import model_cache
from featurebench.recipes.names import dns_name
from featurebench.recipes.sandbox import render_template
from featurebench.spec import Arm, ResolvedSpec

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


