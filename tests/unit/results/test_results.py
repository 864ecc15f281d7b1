"""AIPerf artifacts -> canonical per-request table and per-trial summary, checked against AIPerf's own numbers.

The artifact folders are real AIPerf 0.13 runs against the Dynamo mocker (see each folder's README); the
expectations below are computed independently from the raw JSONL with the json module, or read from AIPerf's
profile_export_aiperf.json, never from our own code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from featurebench.cli.ingest import ingest_cli
from featurebench.results.records import canonical_schema, ingest_records, ingest_to_parquet, parquet_metadata
from featurebench.results.summary import compare_with_aiperf, goodput_from_summary, read_aiperf_summary, summarize_trial
from featurebench.run import RunContext
from featurebench.spec import Goodput, load_spec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
# Ours, plus the shared recording at fixtures/aiperf/ once it exists.
ARTIFACT_DIRS = [d for d in (FIXTURES / "aiperf_mocker_timeouts", FIXTURES / "aiperf")
                 if (d / "profile_export.jsonl").exists()]
MOCKER = FIXTURES / "aiperf_mocker_timeouts"
PLUGINS = Path(__file__).resolve().parents[3] / "plugins"


def _raw(artifact_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (artifact_dir / "profile_export.jsonl").read_text().splitlines() if line]


def _agg(artifact_dir: Path, tag: str, stat: str = "avg", default=None):
    data = json.loads((artifact_dir / "profile_export_aiperf.json").read_text())
    return data.get(tag, {}).get(stat, default)


@pytest.fixture(params=ARTIFACT_DIRS, ids=lambda d: d.name)
def artifact(request):
    summary = read_aiperf_summary(request.param)
    goodput = goodput_from_summary(summary)
    return request.param, summary, goodput, ingest_records(request.param / "profile_export.jsonl", goodput=goodput)


def test_fixture_is_interesting():
    """The recorded run must exercise what the other tests check: warmup, errors and a mix of good/bad."""
    raw = _raw(MOCKER)
    assert any(r["metadata"]["benchmark_phase"] == "warmup" for r in raw)
    assert sum("error" in r for r in raw if r["metadata"]["benchmark_phase"] == "profiling") >= 5
    assert 0 < _agg(MOCKER, "good_request_count") < _agg(MOCKER, "request_count")


def test_one_row_per_profiled_request_warmup_dropped(artifact):
    artifact_dir, _, _, table = artifact
    raw = _raw(artifact_dir)
    profiled = [r["metadata"]["x_request_id"] for r in raw if r["metadata"]["benchmark_phase"] == "profiling"]
    warmup = {r["metadata"]["x_request_id"] for r in raw if r["metadata"]["benchmark_phase"] == "warmup"}
    ids = table.column("request_id").to_pylist()
    assert sorted(ids) == sorted(profiled) and len(set(ids)) == len(ids)
    assert not warmup & set(ids)
    expected = _agg(artifact_dir, "request_count", default=0) + _agg(artifact_dir, "error_request_count", default=0)
    assert table.num_rows == expected
    assert table.schema.equals(canonical_schema())


def test_errors_kept_with_their_details(artifact):
    artifact_dir, _, _, table = artifact
    raw_errors = {r["metadata"]["x_request_id"]: r["error"] for r in _raw(artifact_dir)
                  if "error" in r and r["metadata"]["benchmark_phase"] == "profiling"}
    rows = {r["request_id"]: r for r in table.to_pylist()}
    errors = _agg(artifact_dir, "error_request_count", default=0)
    assert sum(not r["ok"] for r in rows.values()) == len(raw_errors) == errors
    for rid, err in raw_errors.items():
        row = rows[rid]
        assert (row["error_type"], row["error_message"]) == (err["type"], err["message"])
        assert row["error_code"] == err.get("code")
        assert row["ttft_ms"] is None and row["good"] in (False, None)
    ok_row = next(r for r in rows.values() if r["ok"])
    assert ok_row["error_type"] is None and ok_row["ttft_ms"] > 0 and ok_row["inter_chunk_latency_ms"]


def test_values_and_units_match_the_raw_records():
    table = ingest_records(MOCKER / "profile_export.jsonl", goodput=None)
    rows = {r["request_id"]: r for r in table.to_pylist()}
    for r in _raw(MOCKER):
        if r["metadata"]["benchmark_phase"] != "profiling" or "error" in r:
            continue
        row, m, md = rows[r["metadata"]["x_request_id"]], r["metrics"], r["metadata"]
        assert row["ttft_ms"] == m["time_to_first_token"]["value"]
        assert row["itl_ms"] == m["inter_token_latency"]["value"]
        assert row["inter_chunk_latency_ms"] == m["inter_chunk_latency"]["value"]
        assert row["output_tokens"] == m["output_sequence_length"]["value"]
        assert row["credit_to_start_ms"] == pytest.approx((md["request_start_ns"] - md["credit_issued_ns"]) / 1e6)
        assert row["good"] is None  # no SLOs given: unknown, not bad


def test_goodput_agrees_with_aiperf(artifact):
    artifact_dir, _, goodput, table = artifact
    if goodput is None:
        pytest.skip("this artifact was recorded without --goodput")
    per_record = {r["metadata"]["x_request_id"]: r["metrics"]["good_request_count"]["value"] == 1
                  for r in _raw(artifact_dir)
                  if r["metadata"]["benchmark_phase"] == "profiling" and "good_request_count" in r["metrics"]}
    ours = dict(zip(table.column("request_id").to_pylist(), table.column("good").to_pylist()))
    assert per_record and all(ours[rid] == good for rid, good in per_record.items())
    assert sum(ours.values()) == _agg(artifact_dir, "good_request_count")


def test_slos_other_than_aiperfs_are_reported(caplog):
    from featurebench.results.records import IngestStats

    stats = IngestStats()
    ingest_records(MOCKER / "profile_export.jsonl", goodput=Goodput(ttft_ms=40, itl_ms=8), stats=stats)
    assert stats.aiperf_good_disagreements > 0 and "disagrees" in caplog.text


def test_summary_matches_aiperf_within_one_percent(artifact):
    artifact_dir, summary, _, table = artifact
    s = summarize_trial(table, gpus=2, aiperf_summary=summary)
    diffs = compare_with_aiperf(s)
    must = ["ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p99", "ttft_ms_mean", "itl_ms_mean", "itl_ms_p99",
            "request_latency_ms_p50", "icl_ms_mean", "icl_ms_p99", "output_token_throughput_tps",
            "request_throughput_rps", "duration_s", "ok_requests", "errors", "error_rate", "credit_to_start_ms_p50"]
    if s["good_requests"] is not None:
        must += ["good_requests", "goodput_rps", "good_fraction"]
    assert set(must) <= set(diffs), set(must) - set(diffs)
    assert {k: d for k, d in diffs.items() if d > 0.01} == {}
    assert s["duration_s"] == pytest.approx(_agg(artifact_dir, "benchmark_duration"), rel=1e-9)
    assert s["output_tps_per_gpu"] == pytest.approx(s["output_token_throughput_tps"] / 2)
    assert s["requests"] == s["ok_requests"] + s["errors"] == table.num_rows


def test_summary_of_an_empty_table_is_all_none():
    s = summarize_trial(canonical_schema().empty_table(), gpus=1, aiperf_summary=None)
    assert s["requests"] == 0 and s["duration_s"] is None and s["ttft_ms_p50"] is None


def test_synthetic_error_code_and_unknown_fields(tmp_path):
    """Fields AIPerf may add later are ignored; an HTTP error keeps its code; a missing ITL is not good."""
    rec = {"metadata": {"x_request_id": "r1", "conversation_id": "s", "turn_index": 2, "credit_issued_ns": 1,
                        "request_start_ns": 2_000_001, "request_end_ns": 3, "benchmark_phase": "profiling", "new": [1]},
           "metrics": {"time_to_first_token": {"value": 5.0, "unit": "ms"}, "output_sequence_length": {"value": 1.0},
                       "brand_new_metric": {"value": {"x": 1}}}}
    err = {"metadata": {**rec["metadata"], "x_request_id": "r2"}, "metrics": {"error_isl": {"value": 10}},
           "error": {"code": 500, "type": "Internal Server Error", "message": "boom"}}
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps(err) + "\n")
    rows = ingest_records(path, goodput=Goodput(ttft_ms=10, itl_ms=10)).to_pylist()
    assert [(r["request_id"], r["ok"], r["error_code"], r["good"]) for r in rows] == [
        ("r1", True, None, False), ("r2", False, 500, False)]
    assert rows[0]["output_tokens"] == 1 and rows[0]["turn_index"] == 2 and rows[0]["credit_to_start_ms"] == 2.0


def test_cache_hits_in_the_summary(tmp_path):
    """Neither recording has cached tokens (the 1.3.1 mocker reports none), so a synthetic run checks them."""
    def rec(i, isl, cached):
        metrics = {"time_to_first_token": {"value": 10.0}, "request_latency": {"value": 20.0},
                   "input_sequence_length": {"value": isl}, "output_sequence_length": {"value": 4}}
        if cached is not None:
            metrics["usage_prompt_cache_read_tokens"] = {"value": cached}
        return {"metadata": {"x_request_id": f"r{i}", "credit_issued_ns": 0, "request_start_ns": i * 10**9,
                             "request_end_ns": i * 10**9 + 1, "benchmark_phase": "profiling"}, "metrics": metrics}
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (rec(0, 100, 0), rec(1, 100, 64), rec(2, 200, 128))))
    s = summarize_trial(ingest_records(path, goodput=None), gpus=1)
    assert s["cache_hit_fraction"] == pytest.approx(2 / 3)
    assert s["cached_token_share"] == pytest.approx(192 / 400)
    assert s["duration_s"] == pytest.approx(2.02)  # last start + latency - first start
    assert s["output_token_throughput_tps"] == pytest.approx(12 / 2.02) and s["good_requests"] is None


def test_long_lines_retry_with_bigger_blocks():
    table = ingest_records(MOCKER / "profile_export.jsonl", goodput=None, block_size=1000)  # < one line
    assert table.num_rows == ingest_records(MOCKER / "profile_export.jsonl", goodput=None).num_rows


def test_ingest_to_parquet_streams_same_rows_with_metadata(tmp_path):
    out = tmp_path / "requests.parquet"
    stats = ingest_to_parquet(MOCKER / "profile_export.jsonl", out, Goodput(ttft_ms=50, itl_ms=8),
                              {"featurebench.platform": "local"}, block_size=1 << 14, row_group_rows=16)
    table = pq.read_table(out)
    expected = ingest_records(MOCKER / "profile_export.jsonl", goodput=Goodput(ttft_ms=50, itl_ms=8))
    assert table.replace_schema_metadata(None).equals(expected)
    assert stats.batches > 1 and pq.ParquetFile(out).num_row_groups > 1
    assert (stats.rows, stats.errors, stats.warmup_dropped, stats.good) == (60, 21, 6, 15)
    md = pq.read_schema(out).metadata
    assert md[b"featurebench.platform"] == b"local" and md[b"featurebench.table"] == b"requests"
    assert [p.name for p in tmp_path.iterdir()] == ["requests.parquet"]  # no temp file left


_MEASURE = r"""
import resource, sys, pyarrow as pa
from featurebench.results.records import ingest_to_parquet
stats = ingest_to_parquet(sys.argv[1], sys.argv[1] + ".parquet", None, block_size=1 << 17, row_group_rows=200)
print(stats.batches, stats.rows, pa.default_memory_pool().max_memory() >> 10,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_streaming_memory_does_not_grow_with_the_file(tmp_path):
    """Peak memory of a fresh process ingesting a file and one 4x larger stays flat, not 4x.

    Records carry 500 inter-chunk gaps, so buffering the output (not only the input) would show too. The measure
    is the Arrow memory pool's peak, where all record data lives: it is exact and repeatable, while peak RSS
    (printed on failure) moved by tens of MB between identical runs under pytest.
    """
    records = _raw(MOCKER)
    for r in records:
        if "inter_chunk_latency" in r["metrics"]:
            r["metrics"]["inter_chunk_latency"]["value"] = [round(6 + i / 997, 6) for i in range(500)]
    lines = "".join(json.dumps(r) + "\n" for r in records)
    peak = {}
    for reps in (25, 100):  # ~8 MB and ~33 MB
        path = tmp_path / f"big{reps}.jsonl"
        path.write_text(lines * reps)
        out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], check=True, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(PLUGINS)})
        batches, rows, pool_kib, rss_kib = map(int, out.stdout.split())
        assert rows == 60 * reps and batches > 20
        peak[reps] = (path.stat().st_size / 1024, pool_kib, rss_kib)
    (_, small_pool, _), (big_size, big_pool, _) = peak[25], peak[100]
    assert big_pool < 1.5 * small_pool and big_pool < 0.5 * big_size, peak  # (size KiB, pool KiB, max RSS KiB)


def test_ingest_cli_prints_counts(tmp_path, capsys):
    out = tmp_path / "r.parquet"
    assert ingest_cli(MOCKER, out) == 0
    printed = capsys.readouterr().out
    assert "60 requests (21 errors, good 15); 6 warmup rows dropped" in printed and "warning" not in printed
    assert pq.read_metadata(out).num_rows == 60
    assert ingest_cli([str(MOCKER), str(tmp_path / "again.parquet")]) == 0  # as `python -m featurebench ingest`
    assert pq.read_table(tmp_path / "again.parquet").equals(pq.read_table(out))


def _run_context(**overrides) -> RunContext:
    fields = dict(benchmark="qwen3-32b-kv-routing", run_id="manual-2026-11-26", date="2026-11-26", platform="local",
                  arms=["baseline", "kv"], points={"baseline": ["c4"], "kv": ["c4"]}, trials=1,
                  spec_version="v1", spec_sha256="ab" * 32, image_tag="nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.3.1",
                  gpu_type="H100", results_root="/tmp/r")
    return RunContext(**{**fields, **overrides})


def test_parquet_metadata_round_trips_and_holds_no_secret(tmp_path, monkeypatch):
    secret = "fake-secret-do-not-persist-0123456789"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    resolved = load_spec("qwen3-32b-kv-routing").latest
    md = parquet_metadata(resolved, _run_context().to_dict(), trace_sha256="cd" * 32, engine_version="ai-dynamo 1.3.1",
                          aiperf_version="0.13.0", platform="local", simulated=True, arm="kv")
    assert md["featurebench.arm"] == "kv" and md["featurebench.image_tag"] == _run_context().image_tag
    assert md["featurebench.spec_sha256"] == resolved.source_sha256
    assert md["featurebench.simulated"] == "true" and md["featurebench.trace_sha256"] == "cd" * 32
    assert md["featurebench.spec_version"] == str(resolved.version.version)
    assert all(isinstance(v, str) for v in md.values())
    out = tmp_path / "r.parquet"
    ingest_to_parquet(MOCKER / "profile_export.jsonl", out, None, md)
    got = {k.decode(): v.decode() for k, v in pq.read_schema(out).metadata.items()}
    assert md.items() <= got.items()
    assert secret.encode() not in out.read_bytes()

    monkeypatch.setenv("HF_TOKEN", "hf_leakedtoken12345")
    with pytest.raises(ValueError, match="secret"):
        parquet_metadata(resolved, _run_context(image_tag="registry/x:hf_leakedtoken12345"), trace_sha256=None,
                         engine_version="1", aiperf_version="0.13.0", platform="local", simulated=True)
