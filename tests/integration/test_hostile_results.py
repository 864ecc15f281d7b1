"""Corrupt artifacts and nonsense comparisons, through `featurebench ingest` / `featurebench compare` as a user
types them: refused with the input named, or counted as errors and said so; never a silent number."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurebench.airflow import tasks
from featurebench.analysis import compare
from featurebench.errors import IngestError
from featurebench.layout import requests_key, run_prefix
from featurebench.results.records import CORRUPT, ingest_records
from featurebench.results.store import Store
from featurebench.spec import load_spec
from featurebench.testing import simulations as stats

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "aiperf"
BENCH = "qwen3-32b-kv-routing"


def fb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "featurebench", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def _artifacts(tmp_path: Path, name: str, edit=None) -> Path:
    """A copy of the recorded AIPerf run; `edit(records)` changes its profiling records."""
    out = tmp_path / name
    shutil.copytree(FIXTURE, out)
    if edit:
        path = out / "profile_export.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        edit([r for r in records if r["metadata"]["benchmark_phase"] == "profiling" and "error" not in r])
        path.write_text("".join(json.dumps(r) + "\n" for r in records))  # json writes inf as Infinity, NaN as NaN
    return out


def _poison(records):
    records[0]["metrics"]["time_to_first_token"]["value"] = float("inf")
    records[1]["metrics"]["time_to_first_token"]["value"] = -5000.0
    records[2]["metrics"]["inter_token_latency"]["value"] = float("nan")
    records[3]["metrics"]["inter_chunk_latency"]["value"][0] = -1.0


def test_negative_infinite_or_nan_latencies_count_as_errors_and_say_so(tmp_path):
    artifacts = _artifacts(tmp_path, "poisoned", _poison)
    out = fb("ingest", str(artifacts), str(tmp_path / "t.parquet"))
    assert out.returncode == 0, out.stderr
    assert "4 of them corrupt (negative, infinite or NaN latency)" in out.stdout
    assert "4 successful record(s) with a negative, infinite or NaN latency" in out.stderr
    table = pq.read_table(tmp_path / "t.parquet")
    corrupt = table.filter(pa.compute.equal(table.column("error_type"), CORRUPT))
    assert corrupt.num_rows == 4 and not any(corrupt.column("ok").to_pylist())
    assert corrupt.column("ttft_ms").null_count == 4
    ttft = table.column("ttft_ms").to_numpy(zero_copy_only=False)
    assert np.all(np.isfinite(ttft[~np.isnan(ttft)]) & (ttft[~np.isnan(ttft)] >= 0))


def test_compare_never_prints_an_infinite_delta(tmp_path):
    control = _artifacts(tmp_path, "c", _poison)
    treatment = _artifacts(tmp_path, "t")
    out = fb("compare", "--control", str(control), "--treatment", str(treatment), "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert not any(isinstance(r["control"], float) and not np.isfinite(r["control"]) for r in rows)
    assert all(r["delta_pct"] is None or -100 < r["delta_pct"] < 1e6 for r in rows)


def test_a_stored_table_with_corrupt_values_counts_them_as_errors():
    rng = np.random.default_rng(3)
    table = stats.synthetic_trial(rng, 200)
    ttft = table.column("ttft_ms").to_numpy().copy()
    ttft[:20] = -5000.0  # 10% corrupt: over the 5% limit
    bad = table.set_column(table.schema.get_field_index("ttft_ms"), "ttft_ms", pa.array(ttft))
    result = compare.compare_arms({("a", "c8", 0): bad, ("a", "c8", 1): bad, ("b", "c8", 0): table,
                                   ("b", "c8", 1): table}, "a", {"a": 1, "b": 1})
    invalid = result.validity[~result.validity.valid]
    assert list(invalid.arm) == ["a", "a"] and all("20 of 200 requests failed" in r for r in invalid.reasons)


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not AIPerf per-request JSONL"),
    (lambda p: p.write_text("garbage\n" * 10), "not AIPerf per-request JSONL"),
    (lambda p: p.write_text(p.read_text().replace('"ttft', '"x', 1) + '{"metadata": 1e999}\n'), "not AIPerf"),
])
def test_truncated_or_garbage_jsonl_names_the_file(tmp_path, damage, words):
    artifacts = _artifacts(tmp_path, "broken")
    damage(artifacts / "profile_export.jsonl")
    with pytest.raises(IngestError) as err:
        ingest_records(artifacts / "profile_export.jsonl", goodput=None)
    assert str(artifacts / "profile_export.jsonl") in str(err.value) and words in str(err.value)
    out = fb("ingest", str(artifacts), str(tmp_path / "t.parquet"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert str(artifacts / "profile_export.jsonl") in out.stderr


def test_compare_refuses_the_same_folder_on_both_sides(tmp_path):
    a = _artifacts(tmp_path, "a")
    out = fb("compare", "--control", str(a), "--treatment", str(tmp_path / "." / "a"))
    assert out.returncode == 2 and "given more than once" in out.stderr and str(a) in out.stderr


def _store_run(tmp_path, arms_points: dict[str, list[str]]):
    spec = load_spec(BENCH).latest.spec
    store = Store.from_uri(str(tmp_path))
    rng = np.random.default_rng(5)
    for arm, points in arms_points.items():
        for point in points:
            for k in (1, 2):
                store.write_table(requests_key(spec.id, "2026-11-26", "r1", arm, point, k),
                                  stats.synthetic_trial(rng, 100))
    return run_prefix(spec.id, "2026-11-26", "r1")


@pytest.mark.parametrize("arms_points, words", [
    ({"agg-round-robin": ["replay"]}, "only the control arm 'agg-round-robin' has results"),
    ({"agg-round-robin": ["replay"], "disagg-kv-router": ["c8"]}, "no load point to compare at"),
])
def test_compare_refuses_a_one_arm_run_or_mismatched_points(tmp_path, arms_points, words):
    prefix = _store_run(tmp_path, arms_points)
    out = fb("compare", "--store", str(tmp_path), "--run", prefix)
    assert out.returncode == 2, out.stdout
    assert words in out.stderr and "Empty DataFrame" not in out.stdout and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, words", [
    (["--store", "/no/such/store", "--run", f"benchmark={BENCH}/date=2026-11-26/run=r1"], "/no/such/store"),
    (["--store", "/tmp", "--run", "benchmark=no-such/date=2026-11-26/run=r1"], "no benchmark 'no-such'"),
    (["--store", "/tmp", "--run", f"benchmark={BENCH}/date=2026-13-45/run=r1"], "'2026-13-45' is not YYYY-MM-DD"),
])
def test_compare_names_a_missing_store_an_unknown_benchmark_or_a_bad_date(args, words):
    out = fb("compare", *args)
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr


def _result(tables):
    return compare.compare_arms(tables, "a", {"a": 1, "b": 1}, primary_metrics=["ttft_p50"])


def test_a_trial_with_too_many_errors_is_invalid_and_the_headline_says_why():
    rng = np.random.default_rng(8)
    crashed = stats.synthetic_trial(rng, 200)
    ok = crashed.column("ok").to_numpy().copy()
    ok[80:] = False  # the engine died: 120 of 200 failed, the 80 survivors are fast
    crashed = crashed.set_column(crashed.schema.get_field_index("ok"), "ok", pa.array(ok))
    result = _result({("a", "c8", 1): crashed, ("b", "c8", 1): stats.synthetic_trial(rng, 200)})
    assert result.overall() == {"b": "no_change"}
    line = tasks.verdict_line(result, "b", "no_change")
    print(line)
    assert line.startswith("b: NO VERDICT") and "a c8 trial 1: errors: 120 of 200 requests failed (60% > 5%)" in line


def test_one_short_trial_says_no_interval_on_the_verdict_line():
    rng = np.random.default_rng(9)
    result = _result({("a", "c8", 1): stats.synthetic_trial(rng, 40), ("b", "c8", 1): stats.synthetic_trial(rng, 40)})
    assert tasks.verdict_line(result, "b", "no_change") == (
        "b: NO_CHANGE (no interval possible: one trial per arm, too short to split into time slices)")
