"""Airflow plugin: the "Benchmark report" link on report tasks, the report pages it opens (served by the API
server from the results store), and a "Benchmark reports" entry in the UI's navigation."""

from airflow.plugins_manager import AirflowPlugin

from featurebench.airflow.report_link import URL_PREFIX, ReportLink
from featurebench.airflow.ui import app


class FeaturebenchPlugin(AirflowPlugin):
    name = "featurebench"
    operator_extra_links = [ReportLink()]
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "featurebench reports"}]
    external_views = [
        {"name": "Benchmark reports", "href": f"{URL_PREFIX}/reports/", "destination": "nav",
         "url_route": "featurebench-reports"}
    ]
