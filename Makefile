# The two commands of the README, plus the benchmarks of the pipeline itself. Each does its own set-up.
BENCHMARK ?= qwen3-32b-kv-routing
PY := .venvs/main/bin/python

.PHONY: setup run test bench
setup:
	@scripts/setup.sh

# Run one benchmark DAG end to end on the local platform (Dynamo mocker + AIPerf), results in .work/results
run: setup
	$(PY) -m featurebench run $(BENCHMARK)

test: setup
	$(PY) -m pytest tests

bench: setup
	$(PY) bench/run_all.py
