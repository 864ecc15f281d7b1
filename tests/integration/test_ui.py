"""The Airflow UI side: the plugin's report pages read the results store, refuse anything else, list runs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from featurebench.airflow.report_link import ReportLink, ReportOperator, report_url
from featurebench.results.store import Store

RUN = ("qwen3-32b-kv-routing", "2026-11-23", "scheduled__2026-11-23T02-00-00-00-00")


@pytest.fixture()
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATUREBENCH_RESULTS", str(tmp_path))
    store = Store.from_uri(str(tmp_path))
    prefix = "benchmark={}/date={}/run={}".format(*RUN)
    store.write_text(f"{prefix}/report.html", "<h1>SIMULATION</h1>")
    store.write_bytes(f"{prefix}/pareto.png", b"\x89PNG fake")
    store.write_text(f"{prefix}/requests-secret.txt", "not part of a report")
    from featurebench.airflow.ui import app

    return TestClient(app)


def test_serves_the_report_of_a_run(client):
    page = client.get(report_url(*RUN).removeprefix("/featurebench"))
    assert page.status_code == 200 and "SIMULATION" in page.text and page.headers["content-type"].startswith("text/html")
    png = client.get(report_url(*RUN, name="pareto.png").removeprefix("/featurebench"))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


def test_refuses_paths_outside_a_report(client):
    b, d, r = RUN
    assert client.get(f"/reports/{b}/{d}/{r}/requests-secret.txt").status_code == 404
    assert client.get(f"/reports/{b}/{d}/..%2F..%2Fetc/report.html").status_code in (400, 404)
    assert client.get(f"/reports/{b}/{d}/.hidden/report.html").status_code == 400
    assert client.get(f"/reports/{b}/{d}/no-such-run/report.html").status_code == 404


def test_index_lists_runs_with_links(client):
    index = client.get("/reports/")
    assert index.status_code == 200 and report_url(*RUN) in index.text


def test_plugin_registers_the_link_and_the_app():
    import featurebench_plugin

    plugin = featurebench_plugin.FeaturebenchPlugin
    assert any(isinstance(link, ReportLink) for link in plugin.operator_extra_links)
    assert plugin.fastapi_apps[0]["url_prefix"] == "/featurebench"
    assert ReportLink in {type(link) for link in ReportOperator.operator_extra_links}
