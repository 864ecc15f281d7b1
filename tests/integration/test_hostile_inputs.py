"""Hostile trigger values, CLI arguments and settings: refused before anything starts, one line per problem,
the input named, and no secret echoed."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from featurebench.airflow import tasks
from featurebench.errors import ParamError, RecipeError
from featurebench.recipes.load_job import load_config
from featurebench.results.store import Store
from featurebench.spec import load_spec
from featurebench.spec.params import validate_params

REPO = Path(__file__).resolve().parents[2]
BENCH = "qwen3-32b-kv-routing"
PASSWORD = "hunter2-SENTINEL"


def fb(*args: str, **env) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "featurebench", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_run_checks_every_argument_before_airflow_starts(tmp_path):
    out = fb("run", BENCH, "--trials", "0", "--load-points", "c8", "replay\n", "replay-x0", "--image-tag", "1.3.1\n",
             FEATUREBENCH_WORK=str(tmp_path))
    print(out.stderr)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and not (tmp_path / "airflow").exists(), "Airflow was started"
    lines = out.stderr.splitlines()
    for problem in ("trials 0", "load point 'replay\\n'", "load point 'replay-x0'", "image_tag '1.3.1\\n'",
                    "fixed schedule"):
        assert sum(problem in line for line in lines) == 1, f"no single line says {problem!r}"


def test_run_names_an_unknown_benchmark_and_a_date_without_a_version(tmp_path):
    out = fb("run", "no-such-benchmark", FEATUREBENCH_WORK=str(tmp_path))
    assert out.returncode == 2 and "no benchmark 'no-such-benchmark'" in out.stderr
    out = fb("run", BENCH, "--date", "2001-01-01", FEATUREBENCH_WORK=str(tmp_path))
    assert out.returncode == 2 and "no version" in out.stderr and "2001-01-01" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("conf, words", [
    ({"image_tag": "1.3.1\n"}, "image_tag '1.3.1\\n'"),
    ({"load_points": ["replay\n"]}, "load point 'replay\\n'"),
    ({"load_points": ["replay-x0"]}, "load point 'replay-x0'"),
    ({"load_points": ["replay-x0.0"]}, "load point 'replay-x0.0'"),
    ({"load_points": ["replay", "replay"]}, "load points repeat"),
    ({"load_points": "replay"}, "a list"),
    ({"arms": "agg-round-robin"}, "a list of arm names"),
])
def test_the_first_task_refuses_what_json_schema_lets_through(conf, words):
    with pytest.raises(ParamError) as err:
        validate_params(load_spec(BENCH).latest, conf)
    assert BENCH in str(err.value) and words in str(err.value)


def test_a_trailing_newline_never_reaches_a_manifest():
    from featurebench.recipes.names import validate_overrides

    with pytest.raises(RecipeError, match="image_tag"):
        validate_overrides(load_spec(BENCH).latest, {"image_tag": "1.3.1\n"})
    with pytest.raises(RecipeError, match="namespace"):
        validate_overrides(load_spec(BENCH).latest, {"namespace": "featurebench\n"})


def test_a_password_in_the_endpoint_is_refused_without_echoing_it(monkeypatch):
    monkeypatch.setenv("FEATUREBENCH_S3_ENDPOINT_URL", f"http://user:{PASSWORD}@127.0.0.1:9000/")
    for call in (lambda: Store.from_uri("s3://bucket/prefix"), load_config):
        with pytest.raises((ValueError, RecipeError)) as err:
            call()
        assert "FEATUREBENCH_S3_ENDPOINT_URL" in str(err.value) and PASSWORD not in str(err.value)
        assert "FEATUREBENCH_LOAD_S3_ENDPOINT_URL" not in str(err.value), "names a variable that was not set"


def test_a_local_run_renders_no_kubernetes_manifest(monkeypatch, tmp_path, caplog):
    """The endpoint above made a local run fail in resolve_config, rendering manifests it never uses."""
    monkeypatch.setenv("FEATUREBENCH_S3_ENDPOINT_URL", f"http://user:{PASSWORD}@127.0.0.1:9000/")
    monkeypatch.setenv("FEATUREBENCH_RESULTS", str(tmp_path))
    when = dt.datetime(2026, 9, 1, 2, tzinfo=dt.UTC)
    run = tasks.resolve_config(BENCH, {"platform": "local"}, "manual__x", when)
    prefix = tmp_path / run["prefix"] if "prefix" in run else next(tmp_path.rglob("run.json")).parent
    assert json.loads((prefix / "run.json").read_text())["platform"] == "local"
    assert not (prefix / "manifests.yaml").exists()
    assert PASSWORD not in caplog.text
    with pytest.raises(RecipeError) as err:  # a Kubernetes (dry) run still renders, and refuses the endpoint
        tasks.resolve_config(BENCH, {"platform": "kubernetes", "dry_run": True}, "manual__y", when)
    assert PASSWORD not in str(err.value)
