"""DuckDB straight on the store's Parquet files (read_parquet with a glob; httpfs for S3). The library queries the
store through `Store.dataset` (an Arrow dataset DuckDB scans without extensions); these two are what the tests use
to check that files written by the store read back in DuckDB's own way. configure_duckdb hands the AWS chain's
credentials to an in-memory DuckDB secret only."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from featurebench import settings
from featurebench.results.store import Store

if TYPE_CHECKING:
    import duckdb


def duckdb_glob(store: Store, pattern: str) -> str:
    """A path/URI DuckDB's read_parquet() accepts, e.g. duckdb_glob(store, 'benchmark=x/**/requests.parquet').

    For s3:// call configure_duckdb(store, con) first (needs DuckDB's httpfs extension).
    """
    path = f"{store.root}/{pattern.lstrip('/')}"
    return f"s3://{path}" if store.scheme == "s3" else path

def configure_duckdb(store: Store, con: duckdb.DuckDBPyConnection) -> None:
    """Point a DuckDB connection at this store's S3 endpoint with the AWS chain's current credentials."""
    if store.scheme != "s3":
        return
    import boto3
    import duckdb

    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:  # not installed yet: INSTALL downloads it (needs network access to DuckDB's repository)
        con.execute("INSTALL httpfs; LOAD httpfs")
    creds = boto3.Session().get_credentials()
    if creds is None:
        raise RuntimeError("no AWS credentials found in the standard chain")
    frozen = creds.get_frozen_credentials()
    opts = {"KEY_ID": frozen.access_key, "SECRET": frozen.secret_key, "REGION": settings.aws_region() or "us-east-1"}
    if frozen.token:
        opts["SESSION_TOKEN"] = frozen.token
    if store.endpoint_url:
        ep = urlparse(store.endpoint_url)
        opts.update(ENDPOINT=ep.netloc, URL_STYLE="path")
    use_ssl = "false" if store.endpoint_url and store.endpoint_url.startswith("http://") else "true"
    # A TEMPORARY secret lives in this connection's memory only and is never persisted or printed by us.
    body = ", ".join(f"{k} {_sql_literal(v)}" for k, v in opts.items())
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET featurebench_s3 (TYPE s3, USE_SSL {use_ssl}, {body})")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
