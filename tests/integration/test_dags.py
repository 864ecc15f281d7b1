"""DAG integrity: every spec becomes a loadable DAG of the documented shape; a broken spec stays contained."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from featurebench.spec import BENCHMARKS_DIR, load_all

REPO = Path(__file__).resolve().parents[2]


def _dagbag(env_specs: Path | None = None, monkeypatch=None):
    from airflow.dag_processing.dagbag import DagBag

    if env_specs is not None:
        # read when the DAG file runs (featurebench.settings): no module needs re-importing
        monkeypatch.setenv("FEATUREBENCH_BENCHMARKS_DIR", str(env_specs))
    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="module")
def dagbag():
    started = time.perf_counter()
    bag = _dagbag()
    print(f"\nDagBag of dags/ filled in {time.perf_counter() - started:.2f} s")
    for stat in bag.dagbag_stats:
        print(f"  {stat.file}: {stat.duration.total_seconds():.3f} s parse time, {stat.dag_num} DAGs")
    return bag


def test_no_import_errors_and_one_dag_per_spec(dagbag):
    specs, errors = load_all()
    assert errors == {}
    assert dagbag.import_errors == {}
    assert sorted(d for d in dagbag.dag_ids if d != "featurebench_janitor") == sorted(specs)


def test_dag_shape(dagbag):
    specs = load_all()[0]
    for dag_id, dag in dagbag.dags.items():
        if dag_id not in specs:
            continue  # the janitor
        spec = specs[dag_id].latest.spec
        ids = set(dag.task_ids)
        assert {"resolve_config", "compare", "report", "publish"} <= ids
        assert dag.doc_md and spec.question.split()[0] in dag.doc_md
        assert "featurebench" in dag.tags
        assert {"platform", "trials", "load_points", "arms", "image_tag", "dry_run"} <= set(dag.params)
        for arm in spec.arms:
            group = f"arm_{arm.name.replace('-', '_')}"
            plan, provision, td = (dag.get_task(f"{group}.{t}") for t in ("plan", "provision", "teardown"))
            assert plan.is_setup and td.is_teardown
            assert plan.task_id in td.upstream_task_ids, "the teardown must belong to the arm's setup"
            assert plan.task_id in provision.upstream_task_ids, "deploy only after the setup succeeded"
            assert provision.pool == f"gpu_{spec.hardware.pool}" and provision.pool_slots == arm.gpus
            assert td.task_id in dag.get_task("compare").upstream_task_ids
        assert [a.name for a in dag.get_task("publish").outlets] == [f"featurebench-results-{dag_id}"]


def test_parse_time_of_the_dag_file_is_printed():
    """The DAG file's own parse time, measured the way the DAG processor does (a fresh interpreter)."""
    code = (
        "import time, runpy, airflow.sdk; t=time.perf_counter(); "  # Airflow itself is already imported there
        "g = runpy.run_path('dags/featurebench_benchmarks.py'); s = time.perf_counter() - t; "
        "print(len([v for v in g.values() if isinstance(v, airflow.sdk.DAG)]), f'{s:.3f}')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    dags, seconds = out.stdout.strip().splitlines()[-1].split()
    print(f"\ndags/featurebench_benchmarks.py: {float(seconds):.3f} s to parse {dags} DAGs in a fresh interpreter")
    assert int(dags) == len(load_all()[0]), "the timed parse built one DAG per spec"


def test_a_broken_spec_does_not_break_the_others(tmp_path, monkeypatch):
    for path in BENCHMARKS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    good = sorted(p.stem for p in tmp_path.glob("*.yaml"))
    broken = tmp_path / "broken-bench.yaml"
    text = (BENCHMARKS_DIR / "qwen3-32b-kv-routing.yaml").read_text()
    text = re.sub(r"(?m)^trials:.*$", "trials: -1", text.replace("id: qwen3-32b-kv-routing", "id: broken-bench"))
    assert "trials: -1" in text
    broken.write_text(text)
    bag = _dagbag(tmp_path, monkeypatch)
    assert bag.import_errors == {}
    assert set(good) <= set(bag.dag_ids)
    placeholder = bag.dags["broken-bench"]
    assert "broken-spec" in placeholder.tags
    assert "broken-bench.yaml" in placeholder.doc_md and "`trials`" in placeholder.doc_md


def test_a_task_run_builds_only_its_own_dag():
    """With Airflow's parsing context set (a worker running one task), the file builds just that DAG."""
    code = (
        "import runpy; g = runpy.run_path('dags/featurebench_benchmarks.py'); "
        "from airflow.sdk import DAG; print(sorted(k for k, v in g.items() if isinstance(v, DAG)))"
    )
    env = {**os.environ, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": "llama-3-70b-topology"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "['llama-3-70b-topology']"


def test_the_default_platform_comes_from_the_environment(monkeypatch):
    from featurebench.airflow.dag_builder import build_dag
    from featurebench.settings import default_platform
    from featurebench.spec import load_spec

    monkeypatch.delenv("FEATUREBENCH_PLATFORM", raising=False)
    assert default_platform() == "local"
    monkeypatch.setenv("FEATUREBENCH_PLATFORM", "kubernetes")
    dag = build_dag(load_spec("qwen3-32b-kv-routing"), default_platform())
    assert dag.params["platform"] == "kubernetes"  # what a scheduled run uses
    monkeypatch.setenv("FEATUREBENCH_PLATFORM", "k8s")
    with pytest.raises(ValueError, match="set it to local or kubernetes"):
        default_platform()


def test_the_gpu_type_picks_the_airflow_pool_the_arms_count_against(dagbag):
    """llama-3-70b-topology triggered with gpu_type H200 deploys on the h200 nodes (recipes.pool_for), so its GPU
    tasks must take their pool slots from gpu_h200, not from the spec's default gpu_h100: capacity accounting
    follows where the arm really deploys. Airflow applies the project's cluster policy
    (plugins/airflow_local_settings.py) whenever it creates or refreshes a task instance of a run."""
    import uuid

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.serialization.serialized_objects import DagSerialization

    from featurebench.recipes import pool_for
    from featurebench.spec import load_spec

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["llama-3-70b-topology"]))
    resolved = load_spec("llama-3-70b-topology").latest
    gpu_tasks = [t for t in dag.task_ids if t.rsplit(".", 1)[-1] in ("provision", "wait_ready", "run_load")]
    assert len(gpu_tasks) == 3 * len(resolved.spec.arms)
    for gpu_type, want in (("H200", "gpu_h200"), ("H100", "gpu_h100"), (None, "gpu_h100")):
        assert pool_for(resolved, gpu_type)[1].airflow_pool == want  # where the manifests place the GPU pods
        run = DagRun(dag_id=dag.dag_id, run_id=f"manual__{gpu_type}", run_type="manual",
                     conf={"gpu_type": gpu_type} if gpu_type else {})
        for task_id in [*gpu_tasks, "resolve_config"]:
            task = dag.get_task(task_id)
            ti = TaskInstance(task, run_id=run.run_id, dag_version_id=uuid.uuid4())
            ti.refresh_from_task(task, dag_run=run)
            if task_id == "resolve_config":
                assert ti.pool == task.pool  # tasks that hold no GPU keep their pool
            else:
                assert (ti.pool, ti.pool_slots) == (want, task.pool_slots), (gpu_type, task_id)
