"""Janitor: every hour, remove what crashed benchmark runs left behind.

- kubernetes: objects carrying the featurebench/run-id label older than the TTL (DGDs, Deployments, Jobs,
  Services, ConfigMaps, ...); skipped when no cluster is configured;
- local: engine process groups of arms whose state is older than the TTL (featurebench.platforms.local).

The TTL must exceed the longest benchmark run, or the janitor would reap a run that is still measuring.
Trigger it by hand with dry_run to see what it would delete.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging

from airflow.sdk import DAG, Param, task

log = logging.getLogger(__name__)

with DAG(
    dag_id="featurebench_janitor",
    dag_display_name="featurebench janitor",
    description="Reap labelled Kubernetes objects and local engine processes of runs older than a TTL",
    doc_md=__doc__,
    schedule="@hourly",
    start_date=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "featurebench", "retries": 1, "retry_delay": dt.timedelta(minutes=5)},
    params={
        "dry_run": Param(False, type="boolean", title="Dry run", description="Only list what would be deleted."),
        "ttl_hours": Param(24, type="integer", minimum=1, title="TTL (hours)",
                           description="Delete what is older than this; keep it above the longest run."),
    },
    tags=["featurebench", "janitor"],
) as dag:

    @task
    def reap_kubernetes(params: dict | None = None) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException
        from kubernetes.config import ConfigException

        from featurebench.platforms.kubernetes import KubernetesPlatform

        platform = KubernetesPlatform()
        try:
            platform.kube.api_client  # noqa: B018 - resolve the connection now, to skip cleanly without one
        except ConfigException as exc:  # no kubeconfig and not inside a cluster: a local-only installation
            raise AirflowSkipException(f"no Kubernetes cluster configured ({exc})") from None
        ttl = dt.timedelta(hours=params["ttl_hours"])
        found = platform.janitor(ttl, dry_run=params["dry_run"])
        log.info("%s %d object(s) older than %s: %s", "would delete" if params["dry_run"] else "deleted",
                 len(found), ttl, found)
        return found

    @task
    def reap_local(params: dict | None = None) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        try:
            from featurebench.platforms.local import reap_stale
        except ImportError:
            raise AirflowSkipException("the local platform has no reap_stale") from None
        ttl_s = params["ttl_hours"] * 3600
        if params["dry_run"]:
            if "dry_run" not in inspect.signature(reap_stale).parameters:
                raise AirflowSkipException("local reap_stale has no dry run: nothing listed, nothing stopped")
            return reap_stale(ttl_s, dry_run=True)
        stopped = reap_stale(ttl_s)
        log.info("stopped %d stale local process group(s): %s", len(stopped), stopped)
        return stopped

    reap_kubernetes()
    reap_local()
