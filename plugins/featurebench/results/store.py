"""The results root: a local folder (plain path or file://) or s3://bucket/prefix, behind one small API.

Everything goes through pyarrow.fs, so Parquet is written and read straight to/from the store, large files are
streamed (S3 uploads are multipart), and the same filesystem backs a Hive-partitioned Arrow dataset that
DuckDB can query without extensions. Keys are '/'-separated paths relative to the root (see `layout`).

Credentials come from the standard AWS chain (env, profile, web identity, instance metadata); this module
never reads, logs or stores them.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlparse

from featurebench import settings
from featurebench.settings import s3_endpoint_url

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

ENDPOINT_ENV = settings.S3_ENDPOINT_ENV
_TMP_MARK = ".tmp-"  # local in-flight files; never listed
_COPY_CHUNK = 8 << 20

# Names of things that must never be persisted (env var names, metadata keys).
SECRET_NAME = re.compile(r"token|secret|passw|credential|api[_-]?key|access[_-]?key|private[_-]?key|session[_-]?key",
                         re.IGNORECASE)
_SECRET_ENV_NAME = re.compile(r"token|secret|passw|key|credential", re.IGNORECASE)
# Value shapes that are credentials whatever their key: AWS key ids, PEM keys, bearer tokens.
_SECRET_VALUE = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----|\bBearer\s+\S{8,}")


def check_no_secrets(metadata: dict[str, str]) -> None:
    """Refuse metadata that looks like it carries a credential (Parquet metadata is world-readable)."""
    env_secrets = [v for k, v in os.environ.items() if _SECRET_ENV_NAME.search(k) and len(v) >= 8]
    for key, value in metadata.items():
        if SECRET_NAME.search(key):
            raise ValueError(f"metadata key {key!r} looks like a secret; refusing to write it")
        if _SECRET_VALUE.search(value) or any(s in value or s in key for s in env_secrets):
            raise ValueError(f"metadata value of {key!r} looks like a secret; refusing to write it")


def join_uri(root: str, key: str) -> str:
    """The URI of `key` under a results root, without opening the store (for manifests): s3://bucket/prefix/key
    or file:///abs/path/key (the same string Store.uri gives)."""
    key = key.strip("/")
    parsed = urlparse(root)
    if parsed.scheme == "s3":
        return f"{root.rstrip('/')}/{key}"
    path = unquote(parsed.path) if parsed.scheme == "file" else root
    return "file://" + quote(f"{Path(path).expanduser().resolve()}/{key}", safe="/=")


@dataclass(frozen=True)
class Store:
    fs: pafs.FileSystem
    root: str  # local: absolute path; s3: 'bucket/prefix' (no trailing slash)
    scheme: str  # 'file' | 's3'
    endpoint_url: str | None = None

    @classmethod
    def from_uri(cls, uri: str) -> Store:
        import pyarrow.fs as pafs

        parsed = urlparse(uri)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"{uri!r}: an S3 results root needs a bucket (s3://bucket/prefix)")
            endpoint = s3_endpoint_url()
            kwargs: dict = {"region": settings.aws_region() or "us-east-1"} if endpoint or settings.aws_region() else {}
            if endpoint:
                ep = urlparse(endpoint)
                # pyarrow wants host:port and the scheme apart; http is what a loopback moto/MinIO speaks.
                kwargs.update(endpoint_override=ep.netloc or ep.path, scheme=ep.scheme or "https")
            fs = pafs.S3FileSystem(**kwargs)
            root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            return cls(fs=fs, root=root, scheme="s3", endpoint_url=endpoint)
        if parsed.scheme in ("", "file"):
            path = unquote(parsed.path) if parsed.scheme == "file" else uri
            root = str(Path(path).expanduser().resolve())
            return cls(fs=pafs.LocalFileSystem(), root=root, scheme="file")
        raise ValueError(f"{uri!r}: unsupported results root (use a path, file://… or s3://bucket/prefix)")

    # -- paths ---------------------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        key = key.strip("/")
        if not key or any(part in ("", ".", "..") for part in key.split("/")):
            raise ValueError(f"bad store key {key!r}")
        return f"{self.root}/{key}"

    def uri(self, key: str = "") -> str:
        path = self._path(key) if key else self.root
        # '=' is legal in a URI path; leaving it unescaped keeps Hive partitions readable (Path.as_uri gives %3D).
        return f"s3://{path}" if self.scheme == "s3" else "file://" + quote(path, safe="/=")

    def _rel(self, path: str) -> str:
        return path[len(self.root) + 1 :]

    # -- writes (idempotent: a key is replaced whole, never appended to) ----------------------------------
    def _open_output(self, key: str):
        """A writable stream; local files appear under their key only when complete (temp file + rename)."""
        path = self._path(key)
        if self.scheme == "s3":  # an S3 object becomes visible only when the (multipart) upload completes
            return self.fs.open_output_stream(path)
        return _AtomicLocalFile(path)

    def write_bytes(self, key: str, data: bytes) -> str:
        with self._open_output(key) as out:
            out.write(data)
        return key

    def write_text(self, key: str, text: str) -> str:
        return self.write_bytes(key, text.encode())

    def write_table(self, key: str, table: pa.Table, metadata: dict[str, str] | None = None) -> str:
        import pyarrow.parquet as pq

        table = with_metadata(table, metadata or {})
        with self._open_output(key) as out:
            pq.write_table(table, out, compression="zstd")
        return key

    def put_file(self, local_path: str | Path, key: str) -> str:
        """Stream one local file to `key` (no full read into memory)."""
        with open(local_path, "rb") as src, self._open_output(key) as out:
            while chunk := src.read(_COPY_CHUNK):
                out.write(chunk)
        return key

    def upload_dir(self, local_dir: str | Path, prefix: str) -> list[str]:
        """Copy a folder (e.g. AIPerf artifacts) under `prefix`, keeping its relative layout."""
        local_dir = Path(local_dir)
        keys = []
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            keys.append(self.put_file(path, f"{prefix.strip('/')}/{path.relative_to(local_dir).as_posix()}"))
        return keys

    def delete_prefix(self, prefix: str) -> None:
        import pyarrow.fs as pafs

        path = self._path(prefix)  # refuses '' so a bug cannot wipe the whole root
        info = self.fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(path)
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(path)

    # -- reads ---------------------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        with self.fs.open_input_stream(self._path(key)) as f:
            return f.read()

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode()

    def read_table(self, key: str) -> pa.Table:
        import pyarrow.parquet as pq

        # ParquetFile, not pq.read_table: the latter would add Hive partition columns parsed from the key.
        with self.fs.open_input_file(self._path(key)) as f:
            return pq.ParquetFile(f).read()

    def read_metadata(self, key: str) -> dict[str, str]:
        import pyarrow.parquet as pq

        with self.fs.open_input_file(self._path(key)) as f:
            raw = pq.ParquetFile(f).schema_arrow.metadata or {}
        return {k.decode(): v.decode() for k, v in raw.items()}

    def exists(self, key: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self._path(key)).type == pafs.FileType.File

    def size(self, key: str) -> int | None:
        """The size of the file at `key` in bytes, None if there is none."""
        import pyarrow.fs as pafs

        info = self.fs.get_file_info(self._path(key))
        return info.size if info.type == pafs.FileType.File else None

    def list(self, prefix: str = "") -> list[str]:
        """Every file (recursively) under `prefix`, as sorted keys relative to the root."""
        import pyarrow.fs as pafs

        base = self._path(prefix) if prefix.strip("/") else self.root
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return sorted(
            self._rel(i.path) for i in infos if i.type == pafs.FileType.File and _TMP_MARK not in i.base_name
        )

    # -- query engines -------------------------------------------------------------------------------------
    def dataset(self, prefix: str = "", filename: str = "requests.parquet") -> ds.Dataset:
        """All `filename` files under `prefix` as one Arrow dataset with Hive partition columns.

        DuckDB queries it directly (`duckdb.sql("select … from ds")`), locally and on S3, no extension needed.
        """
        import pyarrow.dataset as ds

        paths = [self._path(k) for k in self.list(prefix) if k.rsplit("/", 1)[-1] == filename]
        return ds.dataset(paths, filesystem=self.fs, format="parquet", partitioning="hive",
                          partition_base_dir=self.root)


def with_metadata(table: pa.Table, metadata: dict[str, str]) -> pa.Table:
    """`table` with `metadata` merged into its schema metadata (after the secret guard)."""
    check_no_secrets(metadata)
    merged = dict(table.schema.metadata or {})
    merged.update({k.encode(): str(v).encode() for k, v in metadata.items()})
    return table.replace_schema_metadata(merged)


class _AtomicLocalFile:
    """Write to '<dir>/.tmp-<uuid>-<name>' and rename over the key on success; delete the temp file on failure."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f"{_TMP_MARK}{uuid.uuid4().hex}-{self.path.name}")
        self.f = open(self.tmp, "wb")

    def __enter__(self):
        return self.f

    def __exit__(self, exc_type, exc, tb):
        self.f.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)  # atomic on POSIX: readers see the old or the new file, never half
        else:
            self.tmp.unlink(missing_ok=True)
        return False
