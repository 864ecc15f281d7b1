"""Results: the canonical per-request table from AIPerf's JSONL (`records`), per-trial summaries (`summary`), the
store (`store`; its keys are featurebench.layout), and one trial stored under idempotent keys (`ingest`)."""
