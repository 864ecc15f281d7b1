"""The cluster policy that makes capacity accounting follow where an arm really deploys.

A DAG's GPU tasks are given, at parse time, the Airflow pool of the spec's own GPU type. A run triggered with
another `gpu_type` (llama-3-70b-topology on H200) deploys on that type's nodes (recipes.pools.pool_for), so its
GPU task instances must take their slots from that type's Airflow pool. Airflow calls this hook with the run
(and its conf) each time it creates or refreshes a task instance; plugins/airflow_local_settings.py registers it.

Only task instances of a featurebench benchmark DAG that sit in the spec's default GPU pool are moved. Anything
else, or a value the spec does not allow, is left as it is: resolve_config rejects a bad gpu_type with a clear
error, and a policy must never stop the scheduler.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _pools(spec_path: str, mtime_ns: int, gpu_type: str) -> tuple[str, str]:
    """(default Airflow pool, Airflow pool of gpu_type) of one spec file version."""
    from featurebench.recipes.pools import airflow_pool
    from featurebench.spec import SpecFile

    spec = SpecFile(Path(spec_path)).spec
    return airflow_pool(spec), airflow_pool(spec, gpu_type)


def gpu_pool_for_run(dag_id: str, current_pool: str | None, conf: dict | None) -> str | None:
    """The Airflow pool a task instance of `dag_id` now in `current_pool` belongs in for a run with `conf`;
    None when it stays where it is."""
    gpu_type = (conf or {}).get("gpu_type")
    if not gpu_type or not isinstance(gpu_type, str) or not current_pool:
        return None
    from featurebench import settings
    from featurebench.errors import FeaturebenchError

    path = settings.benchmarks_dir() / f"{dag_id}.yaml"
    try:
        default, wanted = _pools(str(path), path.stat().st_mtime_ns, gpu_type)
    except (FileNotFoundError, FeaturebenchError, ValueError) as exc:  # not ours, or a value resolve_config rejects
        log.debug("pool policy: leaving %s alone (%s)", dag_id, exc)
        return None
    return wanted if current_pool == default and wanted != default else None


def task_instance_mutation_hook(task_instance, dag_run=None) -> None:
    """Airflow's hook (airflow.policies.task_instance_mutation_hook): move a GPU task to its run's GPU pool."""
    if dag_run is None:
        return
    pool = gpu_pool_for_run(task_instance.dag_id, task_instance.pool, getattr(dag_run, "conf", None))
    if pool:
        task_instance.pool = pool
