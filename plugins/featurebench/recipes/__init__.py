"""include/recipes rendered into Kubernetes manifests, one concern per module: the Jinja sandbox (`sandbox`),
names, labels and value checks (`names`), GPU pools (`pools`), pod pieces (`pods`), the DGD (`dynamo`) and plain
vLLM (`vllm`) renderings, the AIPerf load Job (`load_job`), and a run's or arm's full set (`render`).

`from featurebench.recipes import ...` keeps working for the names the single module had."""

from featurebench.errors import RecipeError
from featurebench.recipes.load_job import (
    AIPERF_IMAGE,
    AIPERF_REPOSITORY,
    AIPERF_VERSION,
    LOAD_HF_HOME,
    LOAD_WORK,
    LOAD_WORK_SIZE,
    MEDIA_PORT,
    LoadConfig,
    load_config,
    model_cache,
    render_load_job,
)
from featurebench.recipes.names import (
    DNS_LABEL,
    HF_TOKEN_SECRET,
    IMAGE_REF,
    IMAGE_TAG,
    LABEL_VALUE,
    dns_name,
    endpoint_url,
    resource_name,
    short_hash,
    validate_overrides,
)
from featurebench.recipes.pools import Pool, airflow_pool, arm_slots, load_pools, pool_for, pools_json
from featurebench.recipes.render import PREVIEW_RUN_ID, preview_run, render_arm, render_deployment, render_run
from featurebench.recipes.sandbox import environment, render_template

__all__ = [
    "AIPERF_IMAGE", "AIPERF_REPOSITORY", "AIPERF_VERSION", "DNS_LABEL", "HF_TOKEN_SECRET", "IMAGE_REF", "IMAGE_TAG",
    "LABEL_VALUE", "LOAD_HF_HOME", "LOAD_WORK", "LOAD_WORK_SIZE", "MEDIA_PORT", "PREVIEW_RUN_ID", "LoadConfig", "Pool",
    "RecipeError", "airflow_pool", "arm_slots", "dns_name", "endpoint_url", "environment", "load_config", "load_pools", "model_cache",
    "pool_for", "pools_json", "preview_run", "render_arm", "render_deployment", "render_load_job", "render_run",
    "render_template", "resource_name", "short_hash", "validate_overrides",
]
