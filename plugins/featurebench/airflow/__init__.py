"""The Airflow side: DAG wiring (`dag_builder`), what each task does (`tasks`), the operators that defer
(`operators`), and the UI plugin's report link and pages (`report_link`, `ui`). Nothing below this package imports it."""
