"""featurebench: weekly A/B benchmarks of LLM-serving features, one Airflow DAG per benchmark."""
