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

REPO = Path(__file__).resolve().parents[1]


def _dagbag(env_specs: Path | None = None, monkeypatch=None):
    from airflow.dag_processing.dagbag import DagBag

    if env_specs is not None:
        monkeypatch.setenv("FEATUREBENCH_BENCHMARKS_DIR", str(env_specs))
        # the DAG file reads the folder at import time: make it re-import (monkeypatch puts the original
        # modules back afterwards, so other tests keep one copy of each class)
        for name in [m for m in sys.modules if m.startswith("featurebench")]:
            monkeypatch.delitem(sys.modules, name)
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
    from featurebench.dag_builder import build_dag, default_platform
    from featurebench.spec import load_spec

    monkeypatch.delenv("FEATUREBENCH_PLATFORM", raising=False)
    assert default_platform() == "local"
    monkeypatch.setenv("FEATUREBENCH_PLATFORM", "kubernetes")
    dag = build_dag(load_spec("qwen3-32b-kv-routing"), default_platform())
    assert dag.params["platform"] == "kubernetes"  # what a scheduled run uses
    monkeypatch.setenv("FEATUREBENCH_PLATFORM", "k8s")
    with pytest.raises(ValueError, match="set it to local or kubernetes"):
        default_platform()
