"""Airflow cluster policies of this project. Airflow imports `airflow_local_settings` from its sys.path, which has
plugins/ on it (scheduler, workers, the API server, the tests); the policy itself is featurebench.airflow.policy."""

from featurebench.airflow.policy import task_instance_mutation_hook

__all__ = ["task_instance_mutation_hook"]
