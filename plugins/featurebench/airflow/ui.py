"""Reports in the Airflow UI: a small FastAPI app, mounted by the featurebench plugin on the API server,
that serves each run's report files from the results store (local folder or S3) and lists recent runs."""

from __future__ import annotations

import html
import re

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

from featurebench.airflow.report_link import report_url
from featurebench.layout import run_prefix
from featurebench.settings import results_root

app = FastAPI(title="featurebench reports")

# Path parts are checked before they reach the store: no traversal, only the files a report consists of.
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_FILES = {"report.html": "text/html", "report.md": "text/markdown", "headline.txt": "text/plain",
          "manifests.yaml": "text/plain; charset=utf-8"}  # shown in the browser, one click from the report
_PNG = re.compile(r"^[a-z0-9_-]{1,64}\.png$")
_REPORT_KEY = re.compile(r"^benchmark=([^/]+)/date=([^/]+)/run=([^/]+)/report\.html$")


def _store():
    from featurebench.results.store import Store

    return Store.from_uri(results_root())


@app.get("/reports/{benchmark}/{date}/{run_id}/{name}")
def report_file(benchmark: str, date: str, run_id: str, name: str) -> Response:
    if not all(_PART.fullmatch(p) for p in (benchmark, date, run_id)):
        raise HTTPException(status_code=400, detail="bad benchmark, date or run id")
    media = _FILES.get(name) or ("image/png" if _PNG.fullmatch(name) else None)
    if media is None:
        raise HTTPException(status_code=404, detail=f"{name} is not part of a report")
    key = f"{run_prefix(benchmark, date, run_id)}/{name}"
    store = _store()
    if not store.exists(key):
        raise HTTPException(status_code=404, detail=f"no {name} for run {run_id} of {benchmark} on {date}")
    return Response(content=store.read_bytes(key), media_type=media)


@app.get("/reports/", response_class=HTMLResponse)
def report_index(limit: int = 200) -> str:
    runs = sorted((m.groups() for k in _store().list("") if (m := _REPORT_KEY.fullmatch(k))),
                  key=lambda r: (r[1], r[2]), reverse=True)[:limit]
    rows = "".join(
        f"<tr><td>{html.escape(b)}</td><td>{html.escape(d)}</td>"
        f"<td><a href=\"{html.escape(report_url(b, d, r))}\">{html.escape(r)}</a></td></tr>"
        for b, d, r in runs
    )
    return (
        "<!doctype html><meta charset=utf-8><title>featurebench reports</title>"
        "<h1>featurebench reports</h1><table><tr><th>benchmark</th><th>date</th><th>run</th></tr>"
        f"{rows}</table>"
    )
