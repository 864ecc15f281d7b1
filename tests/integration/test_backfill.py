"""Backfill of historical configurations: each past logical date resolves the spec version in force then.

`airflow backfill create --dry-run` (no scheduler needed) lists the weekly logical dates a backfill over a range
would create; each date is then run through the real DAG with `airflow dags test <id> <date>` and dry_run, the
same task code a scheduler-driven backfill runs, and the version each run used is read back from the run.json
resolve_config wrote under that date in the results store. Everything lives in a private AIRFLOW_HOME (tmp).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from featurebench.spec import REPO_ROOT, load_spec

BENCH = "qwen3-32b-kv-routing"  # versions 2026.07 (image 1.3.1) and, from 2026-08-21, 2026.08 (image 1.3.0)
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def env(tmp_path_factory, migrated_airflow_db):
    tmp = tmp_path_factory.mktemp("backfill")
    e = dict(os.environ)
    e.update(
        AIRFLOW_HOME=str(tmp / "airflow"), FEATUREBENCH_WORK=str(tmp / "work"), FEATUREBENCH_RESULTS=str(tmp / "results"),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"), AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO_ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT / "plugins"), e.get("PYTHONPATH")])),
    )
    migrated_airflow_db.seed(e["AIRFLOW_HOME"])
    subprocess.run([AIRFLOW, "dags", "reserialize"], env=e, check=True, capture_output=True)
    return e


def test_backfill_runs_use_the_version_in_force_on_their_dates(env):
    out = subprocess.run(
        [AIRFLOW, "backfill", "create", "--dag-id", BENCH, "--from-date", "2026-08-10", "--to-date", "2026-09-01",  # a date is its midnight: 08-31 02:00 needs the next day
         "--dry-run", "--dag-run-conf", json.dumps({"dry_run": True})],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    dates = sorted(set(re.findall(r"(2026-08-\d\d)[T ]02:00", out)))
    print(f"\nbackfill --dry-run would create runs for: {dates}")
    assert dates == ["2026-08-10", "2026-08-17", "2026-08-24", "2026-08-31"]  # Mondays 02:00 (cron 0 2 * * 1)

    spec_file = load_spec(BENCH)
    results = Path(env["FEATUREBENCH_RESULTS"])
    for day in ("2026-08-17", "2026-08-24"):  # either side of 2026-08-21, where version 2026.08 starts
        proc = subprocess.run(
            [AIRFLOW, "dags", "test", BENCH, f"{day}T02:00:00+00:00", "-c", json.dumps({"dry_run": True})],
            env=env, capture_output=True, text=True,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        (run_json,) = results.glob(f"benchmark={BENCH}/date={day}/run=*/run.json")
        run = json.loads(run_json.read_text())
        expected = spec_file.version_at(dt.date.fromisoformat(day))
        print(f"{day}: run {run['run_id']} used spec version {run['spec_version']}, image {run['image_tag']}")
        assert (run["spec_version"], run["image_tag"], run["date"]) == (expected.version, expected.image_tag, day)
        assert (run_json.parent / "manifests.yaml").exists()
        assert f":{expected.image_tag}" in (run_json.parent / "manifests.yaml").read_text()
    versions = {json.loads(p.read_text())["spec_version"] for p in results.glob(f"benchmark={BENCH}/*/*/run.json")}
    assert versions == {"2026.07", "2026.08"}
