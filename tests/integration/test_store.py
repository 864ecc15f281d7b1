"""The results store: local folder and S3 (a real moto server on loopback), one API, idempotent writes."""

from __future__ import annotations

from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurebench.layout import requests_key
from featurebench.results.store import Store, check_no_secrets
from featurebench.testing.duckdb_sql import configure_duckdb, duckdb_glob

ARTIFACTS = Path(__file__).resolve().parents[1] / "fixtures" / "aiperf_mocker_timeouts"
KEY = requests_key("bench-a", "2026-11-26", "manual-1", "baseline", "c4", 1)
TABLE = pa.table({"request_id": ["a", "b", "c"], "ttft_ms": [1.0, 2.0, 3.0]})
META = {"featurebench.spec_version": "2026-11-01", "featurebench.platform": "local"}


def _objects(bucket: str, endpoint: str) -> list[str]:
    resp = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in resp.get("Contents", []))


@pytest.fixture(params=["path", "file-uri", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        return Store.from_uri(f"s3://{bucket}/results")
    if request.param == "file-uri":
        return Store.from_uri((tmp_path / "results").as_uri())
    return Store.from_uri(str(tmp_path / "results"))


def test_table_round_trip_with_metadata(store):
    store.write_table(KEY, TABLE, META)
    assert store.exists(KEY)
    assert store.read_table(KEY).equals(TABLE)  # no Hive columns sneak in from the key
    assert store.read_metadata(KEY) | META == store.read_metadata(KEY)
    assert store.list() == [KEY]
    assert store.uri(KEY).endswith("/results/" + KEY)


def test_same_key_twice_leaves_one_file_with_the_same_rows(store):
    store.write_table(KEY, TABLE, META)
    store.write_table(KEY, TABLE, META)
    assert store.list("benchmark=bench-a") == [KEY]
    assert store.read_table(KEY).num_rows == TABLE.num_rows
    if store.scheme == "s3":  # ask S3 itself, not our listing
        bucket = store.root.split("/")[0]
        assert _objects(bucket, store.endpoint_url) == [f"results/{KEY}"]


def test_bytes_text_list_delete(store):
    store.write_text("a/x.txt", "hello")
    store.write_bytes("a/b/y.bin", b"\x00\x01")
    store.write_bytes("c/z.bin", b"z")
    assert store.read_text("a/x.txt") == "hello"
    assert store.read_bytes("a/b/y.bin") == b"\x00\x01"
    assert store.list("a") == ["a/b/y.bin", "a/x.txt"]
    assert store.list("nothing-here") == []
    store.delete_prefix("a")
    assert store.list() == ["c/z.bin"]
    assert not store.exists("a/x.txt")


def test_upload_dir_keeps_layout(store):
    keys = store.upload_dir(ARTIFACTS, "run/aiperf")
    expected = sorted(p.relative_to(ARTIFACTS).as_posix() for p in ARTIFACTS.rglob("*") if p.is_file())
    assert keys == [f"run/aiperf/{k}" for k in expected]
    assert store.list("run/aiperf") == keys
    assert store.read_bytes("run/aiperf/profile_export.jsonl") == (ARTIFACTS / "profile_export.jsonl").read_bytes()


def test_dataset_is_one_hive_table_duckdb_can_query(store):
    for arm, n in (("baseline", 3), ("treatment", 2)):
        key = requests_key("bench-a", "2026-11-26", "manual-1", arm, "c4", 1)
        store.write_table(key, TABLE.slice(0, n), META)
    store.write_text("benchmark=bench-a/date=2026-11-26/run=manual-1/report.md", "# not parquet")
    ds = store.dataset("benchmark=bench-a")  # noqa: F841 - DuckDB reads it by name below
    rows = duckdb.sql("select arm, count(*) from ds group by arm order by arm").fetchall()
    assert rows == [("baseline", 3), ("treatment", 2)]


def test_secret_never_in_file_bytes(store, monkeypatch):
    secret = "fake-secret-do-not-persist-0123456789"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    store.write_table(KEY, TABLE, META)
    assert secret.encode() not in store.read_bytes(KEY)
    with pytest.raises(ValueError, match="secret"):
        store.write_table(KEY, TABLE, {"note": f"x{secret}"})
    assert store.read_metadata(KEY)["featurebench.platform"] == "local"  # the refused write changed nothing


def test_bad_keys_refused(tmp_path):
    store = Store.from_uri(str(tmp_path))
    for key in ("", "../escape", "a/../../b", "a//b"):
        with pytest.raises(ValueError):
            store.write_text(key, "x")
    with pytest.raises(ValueError):
        store.delete_prefix("")  # never wipe the whole root


def test_local_write_is_atomic(tmp_path, monkeypatch):
    store = Store.from_uri(str(tmp_path))
    store.write_table(KEY, TABLE, META)

    def half_write(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(OSError):
        store.write_table(KEY, pa.table({"request_id": ["new"]}), META)
    monkeypatch.undo()
    assert store.read_table(KEY).equals(TABLE)
    assert [p.name for p in (tmp_path / KEY).parent.iterdir()] == ["requests.parquet"]  # no temp file left


def test_endpoint_falls_back_to_aws_endpoint_url(s3_bucket, moto_endpoint, monkeypatch):
    monkeypatch.delenv("FEATUREBENCH_S3_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    store = Store.from_uri(f"s3://{s3_bucket}")
    store.write_text("k.txt", "v")
    assert _objects(s3_bucket, moto_endpoint) == ["k.txt"]


def test_duckdb_glob():
    assert duckdb_glob(Store.from_uri("s3://b/p"), "benchmark=x/**/requests.parquet") == (
        "s3://b/p/benchmark=x/**/requests.parquet")
    assert duckdb_glob(Store.from_uri("/tmp/r"), "**/*.parquet") == "/tmp/r/**/*.parquet"


def test_local_duckdb_glob_reads_partitions(tmp_path):
    store = Store.from_uri(str(tmp_path))
    store.write_table(KEY, TABLE, META)
    got = duckdb.sql(f"select trial, count(*) from read_parquet('{duckdb_glob(store, '**/requests.parquet')}', "
                     "hive_partitioning=true) group by trial").fetchall()
    assert got == [(1, 3)]


def test_unsupported_uris():
    for uri in ("gs://b/p", "s3://", "http://x"):
        with pytest.raises(ValueError):
            Store.from_uri(uri)


def test_secret_guard(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop")
    check_no_secrets({"featurebench.image_tag": "nvcr.io/dynamo:1.3.1", "featurebench.spec_sha256": "ab" * 32})
    for bad in ({"api_token": "x"}, {"aws_secret": "x"}, {"note": "hf_abcdefghijklmnop"},
                {"note": "id AKIAABCDEFGHIJKLMNOP"}, {"auth": "Bearer abcdefghijkl"}):
        with pytest.raises(ValueError):
            check_no_secrets(bad)


def test_configure_duckdb_points_at_the_same_endpoint(s3_bucket, moto_endpoint):
    """The SQL handed to DuckDB (httpfs itself cannot be installed offline, so a recording connection stands in)."""
    executed = []

    class Recorder:
        def execute(self, sql):
            executed.append(sql)

    configure_duckdb(Store.from_uri(f"s3://{s3_bucket}/results"), Recorder())
    assert executed[0] == "LOAD httpfs"
    secret = executed[-1]
    host_port = moto_endpoint.removeprefix("http://")
    assert secret.startswith("CREATE OR REPLACE TEMPORARY SECRET featurebench_s3 (TYPE s3, USE_SSL false,")
    assert f"ENDPOINT '{host_port}'" in secret and "URL_STYLE 'path'" in secret
    assert "KEY_ID 'AKIDFAKEFORTESTS0001'" in secret
    executed.clear()
    configure_duckdb(Store.from_uri("/tmp/anything"), Recorder())
    assert executed == []  # local roots need nothing
