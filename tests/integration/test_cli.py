"""`python -m featurebench ...` through the real entry point, as a user types it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from featurebench.spec import load_all

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "aiperf"


def fb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "featurebench", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_list_names_every_benchmark():
    out = fb("list")
    assert out.returncode == 0, out.stderr
    for benchmark in load_all()[0]:
        assert benchmark in out.stdout


def test_compare_takes_artifact_dirs_and_prints_json():
    out = fb("compare", "--control", str(FIXTURE), "--treatment", str(FIXTURE), "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert rows and {"metric", "stat", "control", "treatment", "delta_pct", "ci_low", "ci_high", "verdict"} <= set(rows[0])
    same = [r for r in rows if r["metric"] == "ttft" and r["stat"] == "p50"][0]
    assert same["delta_pct"] == 0 and same["verdict"] == "no_change"


def test_render_prints_only_yaml():
    out = fb("render", "qwen3-32b-kv-routing", "--arm", "disagg-kv-router")
    assert out.returncode == 0, out.stderr
    docs = list(yaml.safe_load_all(out.stdout))
    assert {d["kind"] for d in docs} >= {"DynamoGraphDeployment", "Job"}


def test_ingest_writes_one_row_per_profiled_request(tmp_path):
    out_file = tmp_path / "requests.parquet"
    out = fb("ingest", str(FIXTURE), str(out_file))
    assert out.returncode == 0, out.stderr
    profiled = sum(1 for line in open(FIXTURE / "profile_export.jsonl")
                   if json.loads(line)["metadata"].get("benchmark_phase") != "warmup")
    assert pq.read_table(out_file).num_rows == profiled


def test_a_bad_benchmark_id_is_a_clear_error():
    out = fb("run", "no-such-benchmark")
    assert out.returncode == 2 and "no benchmark 'no-such-benchmark'" in out.stderr
