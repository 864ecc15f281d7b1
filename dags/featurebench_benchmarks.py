"""One DAG per benchmark spec in include/benchmarks/ (the specs are the DAGs' input; this file is only glue).

A spec that fails validation becomes a paused placeholder DAG that shows the error, so the other
benchmarks keep loading and the broken one is visible in the UI instead of silently missing.
"""

from airflow.sdk import get_parsing_context

from featurebench.airflow.dag_builder import broken_spec_dag, build_dag, load_specs_for_parsing
from featurebench.errors import FeaturebenchError
from featurebench.settings import benchmarks_dir, default_platform

# When a worker runs one task it only needs that task's DAG: build just that one.
_only = get_parsing_context().dag_id
_specs, _errors = load_specs_for_parsing(benchmarks_dir(), _only)

for _id, _spec_file in _specs.items():
    try:
        globals()[_id] = build_dag(_spec_file, default_platform())
    except FeaturebenchError as exc:  # e.g. a GPU pool missing from pools.yaml: contained like a broken spec
        _errors[str(_spec_file.path)] = str(exc)
for _path, _message in _errors.items():
    _dag = broken_spec_dag(_path, _message)
    globals()[_dag.dag_id] = _dag
