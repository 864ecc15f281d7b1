"""The report task as an operator with an extra link ("Benchmark report") to the run's report in the UI.

Airflow 3 shows an operator link from an XCom the task pushes under the link's key; the URL points at the
featurebench plugin's report endpoint on the API server (featurebench.airflow.ui), which reads the results store.
"""

from __future__ import annotations

from urllib.parse import quote

from airflow.sdk import BaseOperator, BaseOperatorLink

URL_PREFIX = "/featurebench"


def report_url(benchmark: str, date: str, run_id: str, name: str = "report.html") -> str:
    return f"{URL_PREFIX}/reports/{quote(benchmark)}/{quote(date)}/{quote(run_id)}/{quote(name)}"


class ReportLink(BaseOperatorLink):
    name = "Benchmark report"

    def get_link(self, operator, *, ti_key) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""


class ReportOperator(BaseOperator):
    """Writes report.md / report.html / plots for the run in `run` (templated: pass the XComArg)."""

    template_fields = ("run",)
    operator_extra_links = (ReportLink(),)

    def __init__(self, *, run, **kwargs):
        super().__init__(**kwargs)
        self.run = run

    def execute(self, context) -> dict:
        from featurebench.airflow import tasks

        summary = tasks.report(self.run)
        url = report_url(self.run["benchmark"], self.run["date"], self.run["run_id"])
        context["ti"].xcom_push(key=ReportLink().xcom_key, value=url)
        return {**summary, "ui_link": url}
