# The two commands of the README, plus the benchmarks of the pipeline itself. Each does its own set-up.
BENCHMARK ?= qwen3-32b-kv-routing
PY := .venvs/main/bin/python

.PHONY: setup run test bench
setup:
	@scripts/setup.sh

# Run one benchmark DAG end to end on the local platform (Dynamo mocker + AIPerf), results in .work/results
run: setup
	$(PY) -m featurebench run $(BENCHMARK)

# Lint (ruff, configured in pyproject.toml), then every test; independent tests run in parallel (pytest-xdist,
# 4 workers: on 2 cores the suite is mostly waiting on engines, AIPerf and Airflow; worksteal, so an idle worker
# takes queued tests from a busy one; tests/conftest.py deals the slow tests out first). The import contracts run as
# tests (tests/unit/test_imports.py).
test: setup
	.venvs/main/bin/ruff check .
	$(PY) -m pytest -n 4 --dist worksteal tests

bench: setup
	$(PY) bench/run_all.py
