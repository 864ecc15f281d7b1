"""DAG parsing, timed as Airflow's DAG processor does it: DagBag(dag_folder=...) in a fresh interpreter with
airflow.sdk already imported, reading dagbag_stats' per-file parse duration.

Three cases: dags/ with the six specs, the benchmarks DAG file over 100 generated specs (copies of the six with
new ids, via FEATUREBENCH_BENCHMARKS_DIR), and a task run of one DAG (_AIRFLOW_PARSING_CONTEXT_DAG_ID set),
which must build exactly one DAG. Bytecode is cached under .work/bench/pycache (a deployed image has .pyc files;
this sandbox sets PYTHONDONTWRITEBYTECODE), after one warm-up parse; the median of REPEATS fresh processes is kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, WORK, run_child

REPEATS = int(os.environ.get("BENCH_PARSE_REPEATS", "3"))

CHILD = """
import json, os, sys, time, logging
logging.disable(logging.WARNING)
import airflow.sdk  # the DAG processor has Airflow loaded before it parses a file
from airflow.dag_processing.dagbag import DagBag
t = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
wall = time.perf_counter() - t
print(json.dumps({"parse_s": sum(s.duration.total_seconds() for s in bag.dagbag_stats), "wall_s": wall,
                  "dags": len(bag.dag_ids), "import_errors": len(bag.import_errors)}))
"""


def _env(specs_dir: Path | None = None, only: str | None = None) -> dict:
    # bytecode written to (and read from) a cache of our own; None drops the sandbox's "don't write" flag
    env = {"PYTHONPYCACHEPREFIX": str(WORK / "pycache"), "PYTHONDONTWRITEBYTECODE": None,
           "AIRFLOW_HOME": str(WORK / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    if specs_dir is not None:
        env["FEATUREBENCH_BENCHMARKS_DIR"] = str(specs_dir)
    if only is not None:
        env["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = only
    return env


def many_specs(n: int) -> Path:
    """n specs: copies of include/benchmarks/*.yaml with new ids (file name = id)."""
    folder = WORK / f"specs_{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sources = sorted((REPO / "include" / "benchmarks").glob("*.yaml"))
    for i in range(n):
        src = sources[i % len(sources)]
        new_id = f"{src.stem}-copy{i:03d}"
        text = re.sub(rf"^id:\s*{re.escape(src.stem)}\s*$", f"id: {new_id}", src.read_text(), count=1, flags=re.M)
        (folder / f"{new_id}.yaml").write_text(text)
    return folder


def _median(folder: Path, env: dict) -> dict:
    runs = [run_child(CHILD, str(folder), env=env) for _ in range(REPEATS)]
    best = sorted(runs, key=lambda r: r["parse_s"])[len(runs) // 2]
    return {**best, "all_parse_s": [round(r["parse_s"], 3) for r in runs],
            "median_parse_s": statistics.median(r["parse_s"] for r in runs)}


def run() -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    dags, dag_file = REPO / "dags", REPO / "dags" / "featurebench_benchmarks.py"
    specs100 = many_specs(100)
    run_child(CHILD, str(dags), env=_env())  # warm-up: writes the bytecode cache
    six = _median(dags, _env())
    hundred = _median(dag_file, _env(specs100))
    one_id = sorted(p.stem for p in (REPO / "include" / "benchmarks").glob("*.yaml"))[0]
    one = _median(dag_file, _env(only=one_id))
    assert six["import_errors"] == hundred["import_errors"] == one["import_errors"] == 0, (six, hundred, one)
    assert hundred["dags"] == 100 and one["dags"] == 1, (hundred, one)
    return {"six": six, "hundred": hundred, "single_dag_context": one}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
