"""Spec -> DAG. Only wiring lives here; what each task does is in featurebench.airflow.tasks.

Shape (arms run one after another on the same GPU pool unless the spec says arms_in_parallel):

    resolve_config -> proceed? -> arm_<control>   -> arm_<treatment> ... -> compare -> report -> publish
        -> regression_check (this run vs the earlier weekly runs; fails on a regression beyond the noise)
    arm_<name>: plan (setup) -> provision -> wait_ready -> run_load[point x trial] -> teardown (teardown)
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from airflow.sdk import DAG, Asset, Param, TaskGroup, task
from airflow.sdk.definitions.decorators.setup_teardown import setup_task, teardown_task
from airflow.timetables.trigger import CronTriggerTimetable

from featurebench.airflow import tasks
from featurebench.airflow.operators import RunLoadOperator, WaitArmReadyOperator
from featurebench.airflow.report_link import ReportOperator
from featurebench.recipes.pools import arm_slots
from featurebench.spec import BenchmarkSpec, SpecError, SpecFile, load_all
from featurebench.spec.params import form_schema

DEFAULT_ARGS = {"owner": "featurebench", "retries": 1, "retry_delay": dt.timedelta(seconds=15)}


def results_asset(benchmark: str) -> Asset:
    """Updated by every successful run; other DAGs can be scheduled on it."""
    # "x-" scheme: Airflow skips its provider URI normalizers, whose discovery imports every provider (boto3...)
    # at parse time
    return Asset(name=f"featurebench-results-{benchmark}", uri=f"x-featurebench://results/{benchmark}")


def trigger_params(spec: BenchmarkSpec, default_platform: str) -> dict[str, Param]:
    """The trigger form: the JSON Schema of the spec's typed form (featurebench.spec.params), which resolve_config
    validates again before any value reaches anything."""
    params = {}
    for name, schema in form_schema(spec, default_platform).items():
        schema = dict(schema)
        params[name] = Param(schema.pop("default"), description=schema.pop("description"), **schema)
    return params


def _arm_group(spec: BenchmarkSpec, arm_name: str, run) -> tuple[object, object, object]:
    """Returns the arm's (first task, load tasks, teardown)."""
    arm = spec.arm(arm_name)
    # The Airflow pool of the spec's own GPU type, one slot per GPU (include/recipes/pools.yaml). A run triggered
    # with another GPU type takes its slots from that type's pool: featurebench.airflow.policy moves its tasks.
    airflow_pool, slots = arm_slots(spec, arm=arm_name)
    pool = {"pool": airflow_pool, "pool_slots": slots}
    with TaskGroup(group_id=f"arm_{arm_name.replace('-', '_')}", tooltip=arm.description):

        @setup_task
        def plan(run: dict) -> list[dict]:
            return tasks.plan_arm(run, arm_name)

        @task(**pool)
        def provision(run: dict) -> dict:
            return tasks.provision(run, arm_name)

        @teardown_task
        def teardown(run: dict) -> list[str]:
            return tasks.teardown(run, arm_name)

        jobs = plan(run)
        endpoint = provision(run)
        jobs >> endpoint  # nothing is deployed before the setup succeeded, so the teardown always runs
        # On Kubernetes the wait defers to the triggerer, so a starting deployment holds no worker slot.
        ready = WaitArmReadyOperator(task_id="wait_ready", run=run, arm=arm_name, endpoint=endpoint, **pool).output
        # One instance per (point, trial); on Kubernetes each defers while its load Job runs. Trials of one arm
        # never overlap: they share the deployment.
        loads = RunLoadOperator.partial(
            task_id="run_load", run=run, arm=arm_name, endpoint=ready, max_active_tis_per_dagrun=1,
            map_index_template="{{ task.job['point'] }} trial {{ task.job['trial'] }}", **pool,
        ).expand(job=jobs)
        done = teardown(run)
        jobs >> done
        loads >> done
    return jobs, loads, done


def build_dag(spec_file: SpecFile, default_platform: str = "local") -> DAG:
    spec = spec_file.latest.spec  # parse-time shape; each run resolves the version of its own date
    with DAG(
        dag_id=spec.id,
        dag_display_name=spec.title,
        description=spec.question[:200],
        doc_md=_doc(spec),
        schedule=CronTriggerTimetable(spec.schedule.cron, timezone="UTC"),
        start_date=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=trigger_params(spec, default_platform),
        tags=["featurebench", spec.subtype, *spec.features, f"pool:{spec.hardware.pool}"],
        render_template_as_native_obj=True,
    ) as dag:

        @task
        def resolve_config(params: dict | None = None, run_id: str | None = None, dag_run=None) -> dict:
            return tasks.resolve_config(spec.id, dict(params or {}), run_id, dag_run.logical_date, dag_run.run_after)

        @task.short_circuit(ignore_downstream_trigger_rules=True)
        def deploy_or_dry_run(run: dict) -> bool:
            """A dry run stops here: configuration resolved, manifests rendered and validated."""
            return not run["dry_run"]

        @task
        def predict(run: dict) -> dict:
            """Preflight: simulated hardware metrics of every arm (offline replay), before anything deploys."""
            return tasks.predict(run)

        @task
        def compare(run: dict) -> dict:
            return tasks.compare(run)

        @task(outlets=[results_asset(spec.id)])
        def publish(run: dict, summary: dict) -> dict:
            return {"run": run["run_id"], **summary}

        @task(retries=0)  # a regression is a finding, not a flaky failure: do not retry it
        def regression_check(run: dict) -> dict:
            """Fails when this run is worse than the earlier weekly runs beyond their noise (regression.md)."""
            return tasks.regression_check(run)

        run = resolve_config()
        gate = deploy_or_dry_run(run)
        preflight = predict(run)
        gate >> preflight
        previous: list = []
        arm_tasks: list = []
        for arm in spec.arms:
            start, loads, end = _arm_group(spec, arm.name, run)
            preflight >> start
            if not spec.arms_in_parallel:
                # The previous arm has measured and is torn down before this one deploys; if it failed,
                # this one does not deploy at all (its teardown then has nothing to do and is skipped).
                previous >> start
            previous = [loads, end]
            arm_tasks += previous
        comparison = compare(run)
        # Analysis sits after the teardowns, outside their scope: re-running it never re-deploys.
        arm_tasks >> comparison
        summary = ReportOperator(task_id="report", run=run).output  # with a "Benchmark report" link
        comparison >> summary
        published = publish(run, summary)
        published >> regression_check(run)  # after publish: the results are out whatever the verdict
    return dag


def _doc(spec: BenchmarkSpec) -> str:
    arms = "\n".join(
        f"| {a.name} | {a.role} | {a.gpus} | {a.deploy.router_mode} | {a.description} |" for a in spec.arms
    )
    return (
        f"### {spec.title}\n\n**Question.** {spec.question}\n\n"
        f"**Hardware.** {spec.hardware.gpus} x {spec.hardware.gpu} (pool `{spec.hardware.pool}`). "
        f"**Traffic.** {spec.traffic.description}\n\n"
        "| arm | role | GPUs | router | what |\n|---|---|---|---|---|\n" + arms + "\n\n"
        f"Spec: `include/benchmarks/{spec.id}.yaml`. Versions: "
        + ", ".join(f"{v.version} (from {v.effective_from}, image {v.image_tag})" for v in spec.versions)
    )


def load_specs_for_parsing(directory: Path, only: str | None) -> tuple[dict[str, SpecFile], dict[str, str]]:
    """All specs, or only the one a task run needs (get_parsing_context), with per-file errors kept apart."""
    if only and (directory / f"{only}.yaml").exists():
        try:
            return {only: SpecFile(directory / f"{only}.yaml")}, {}
        except (SpecError, OSError) as exc:
            return {}, {str(directory / f"{only}.yaml"): str(exc)}
    return load_all(directory)


# DAG ids the project's other DAG files own: a broken spec named after one must not take it (Airflow would
# then reject the whole DAG file for a duplicate id).
RESERVED_DAG_IDS = frozenset({"featurebench_janitor"})


def broken_spec_dag(path: str, message: str) -> DAG:
    """A paused DAG named after the broken file, whose doc and only task show the validation error."""
    dag_id = re.sub(r"[^A-Za-z0-9_.-]", "-", Path(path).name.removesuffix(".yaml")) or "broken-spec"
    if dag_id in RESERVED_DAG_IDS:
        dag_id = f"{dag_id}-broken-spec"
    with DAG(
        dag_id=dag_id,
        description="BROKEN SPEC: fix the file to restore this benchmark",
        doc_md=f"### Broken benchmark spec\n\n```\n{message}\n```",
        schedule=None,
        is_paused_upon_creation=True,
        tags=["featurebench", "broken-spec"],
    ) as dag:

        @task
        def spec_is_invalid() -> None:
            raise SpecError(message)

        spec_is_invalid()
    return dag
