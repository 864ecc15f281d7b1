"""AIPerf artifacts -> the canonical per-request table (docs/ARCHITECTURE.md) and a one-row summary per trial.

Parsing uses pyarrow's streaming JSON reader with an explicit schema: it reads the file block by block (memory is
bounded by the block size, not the file), ignores the ~40 metric tags we do not keep, and runs in C++, so it keeps
pace with `pyarrow.json.read_json` on the same file. All column work is vectorised per batch.

Statistics follow AIPerf 0.13 (`aiperf/metrics/metric_dicts.py`): errors are excluded from latency statistics,
percentiles use linear interpolation (numpy's default), duration is last response end - first request start over
successful requests, and ITL statistics are over per-request values.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from featurebench.run import RunContext
    from featurebench.spec import Goodput, ResolvedSpec

log = logging.getLogger(__name__)

TABLE_VERSION = "1"  # bump when the canonical columns change
RECORDS_FILE = "profile_export.jsonl"
# Bytes per parsing block. Memory is ~40 blocks (the reader reads ahead), so 4 MiB keeps the parser near 150 MB.
# A line longer than a block (a very long streamed answer) makes Arrow fail; we then retry with bigger blocks.
BLOCK_SIZE = 4 << 20
_MAX_BLOCK_SIZE = 256 << 20
ROW_GROUP_ROWS = 65_536  # rows per Parquet row group: few groups (small footer), bounded write buffer

# canonical column -> (where in the AIPerf record, canonical type). Token counts are read as float64 and cast, so an
# integral value written as 12.0 does not break the reader.
_META = {
    "request_id": ("x_request_id", "string"),
    "conversation_id": ("conversation_id", "string"),
    "turn_index": ("turn_index", "int32"),
    "credit_issued_ns": ("credit_issued_ns", "int64"),
    "request_start_ns": ("request_start_ns", "int64"),
    "request_end_ns": ("request_end_ns", "int64"),
}
_METRICS = {
    "ttft_ms": ("time_to_first_token", "float64"),
    "ttst_ms": ("time_to_second_token", "float64"),
    "request_latency_ms": ("request_latency", "float64"),
    "itl_ms": ("inter_token_latency", "float64"),
    "inter_chunk_latency_ms": ("inter_chunk_latency", "list"),
    "input_tokens": ("input_sequence_length", "int64"),
    "output_tokens": ("output_sequence_length", "int64"),
    "cached_tokens": ("usage_prompt_cache_read_tokens", "int64"),
    "output_tps_per_user": ("output_token_throughput_per_user", "float64"),
}


def canonical_schema() -> pa.Schema:
    import pyarrow as pa

    t = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(),
         "list": pa.list_(pa.float64())}
    return pa.schema(
        [(name, t[kind]) for name, (_, kind) in _META.items()]
        + [("ok", pa.bool_()), ("cancelled", pa.bool_()), ("error_code", pa.int32()), ("error_type", pa.string()),
           ("error_message", pa.string())]
        + [(name, t[kind]) for name, (_, kind) in _METRICS.items()]
        + [("credit_to_start_ms", pa.float64()), ("good", pa.bool_())]
    )


def _input_schema() -> pa.Schema:
    """What the JSON reader extracts from each record; everything else in the line is skipped."""
    import pyarrow as pa

    def value(kind: str) -> pa.DataType:
        return pa.struct([("value", pa.list_(pa.float64()) if kind == "list" else pa.float64())])

    meta = [(src, pa.string() if kind == "string" else pa.int64()) for src, kind in _META.values()]
    meta += [("benchmark_phase", pa.string()), ("was_cancelled", pa.bool_())]
    metrics = [(src, value(kind)) for src, kind in _METRICS.values()] + [("good_request_count", value("float64"))]
    error = pa.struct([("code", pa.int64()), ("type", pa.string()), ("message", pa.string())])
    return pa.schema([("metadata", pa.struct(meta)), ("metrics", pa.struct(metrics)), ("error", error)])


@dataclass
class IngestStats:
    """Counts from one ingestion, for logs and the CLI."""

    rows: int = 0
    errors: int = 0
    warmup_dropped: int = 0
    good: int = 0
    aiperf_good_disagreements: int = 0  # rows where AIPerf's own good_request_count differs from ours
    batches: int = 0


def iter_record_batches(jsonl_path: str | Path, *, goodput: Goodput | None, stats: IngestStats | None = None,
                        block_size: int = BLOCK_SIZE) -> Iterator[pa.RecordBatch]:
    """Canonical record batches from a profile_export.jsonl, one parsing block at a time."""
    import pyarrow.json as pj

    stats = stats if stats is not None else IngestStats()
    reader = pj.open_json(
        str(jsonl_path),
        read_options=pj.ReadOptions(block_size=block_size, use_threads=False),
        parse_options=pj.ParseOptions(explicit_schema=_input_schema(), unexpected_field_behavior="ignore"),
    )
    for raw in reader:
        batch = _canonical(raw, goodput, stats)
        stats.batches += 1
        if batch.num_rows:
            yield batch


def _canonical(raw: pa.RecordBatch, goodput: Goodput | None, stats: IngestStats) -> pa.RecordBatch:
    import pyarrow as pa
    import pyarrow.compute as pc

    def meta(name: str) -> pa.Array:
        return pc.struct_field(raw.column("metadata"), name)

    # Warmup rows are mixed into the same file; keep profiling rows (and rows of AIPerf versions without phases).
    keep = pc.fill_null(pc.equal(meta("benchmark_phase"), "profiling"), True)
    raw = raw.filter(keep)
    stats.warmup_dropped += len(keep) - raw.num_rows

    schema = canonical_schema()
    cols: dict[str, pa.Array] = {}
    for name, (src, _) in _META.items():
        cols[name] = meta(src).cast(schema.field(name).type)
    error = raw.column("error")
    ok = pc.is_null(error)
    cols["ok"] = ok
    cols["cancelled"] = pc.fill_null(meta("was_cancelled"), False)
    cols["error_code"] = pc.struct_field(error, "code").cast(pa.int32())
    cols["error_type"] = pc.struct_field(error, "type")
    cols["error_message"] = pc.struct_field(error, "message")
    for name, (src, _) in _METRICS.items():
        cols[name] = pc.struct_field(raw.column("metrics"), [src, "value"]).cast(schema.field(name).type)
    cols["credit_to_start_ms"] = pc.divide(
        pc.subtract(cols["request_start_ns"], cols["credit_issued_ns"]).cast(pa.float64()), 1e6
    )
    cols["good"] = is_good(cols["ok"], cols["ttft_ms"], cols["itl_ms"], goodput)

    aiperf_good = pc.struct_field(raw.column("metrics"), ["good_request_count", "value"])
    if goodput is not None and aiperf_good.null_count < len(aiperf_good):
        differs = pc.not_equal(pc.greater(aiperf_good, 0), cols["good"])
        stats.aiperf_good_disagreements += pc.sum(pc.fill_null(differs, False)).as_py() or 0

    batch = pa.RecordBatch.from_arrays([cols[f.name] for f in schema], schema=schema)
    stats.rows += batch.num_rows
    stats.errors += batch.num_rows - (pc.sum(ok).as_py() or 0)
    stats.good += pc.sum(cols["good"]).as_py() or 0
    return batch


def is_good(ok: pa.Array, ttft_ms: pa.Array, itl_ms: pa.Array, goodput: Goodput | None) -> pa.Array:
    """DistServe goodput, as AIPerf counts it: a successful request meeting every SLO (<=); a missing value fails.

    Null for every row when the spec sets no SLOs (unknown, not 'bad').
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if goodput is None:
        return pa.nulls(len(ok), pa.bool_())
    ttft_ok = pc.fill_null(pc.less_equal(ttft_ms, goodput.ttft_ms), False)
    itl_ok = pc.fill_null(pc.less_equal(itl_ms, goodput.itl_ms), False)
    return pc.and_(ok, pc.and_(ttft_ok, itl_ok))


def ingest_records(jsonl_path: str | Path, *, goodput: Goodput | None, stats: IngestStats | None = None,
                   block_size: int = BLOCK_SIZE) -> pa.Table:
    """The canonical per-request table of one AIPerf run (profiling phase only, errors kept)."""
    import pyarrow as pa

    def attempt(block_size: int) -> tuple[pa.Table, IngestStats]:
        st = IngestStats()
        batches = list(iter_record_batches(jsonl_path, goodput=goodput, stats=st, block_size=block_size))
        return pa.Table.from_batches(batches, schema=canonical_schema()), st

    table, st = _with_block_retry(attempt, block_size)
    if stats is not None:
        stats.__dict__.update(st.__dict__)
    _warn_disagreements(jsonl_path, st)
    return table


def _with_block_retry(attempt, block_size: int):
    """Run attempt(block_size), growing the block while a JSONL line does not fit in one."""
    import pyarrow as pa

    while True:
        try:
            return attempt(block_size)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or block_size >= _MAX_BLOCK_SIZE:
                raise
            block_size *= 8
            log.info("a record is longer than the parsing block; retrying with %d MiB blocks", block_size >> 20)


def ingest_to_parquet(jsonl_path: str | Path, out_path: str | Path, goodput: Goodput | None,
                      metadata: dict[str, str] | None = None, *, block_size: int = BLOCK_SIZE,
                      row_group_rows: int = ROW_GROUP_ROWS) -> IngestStats:
    """Stream a profile_export.jsonl into a zstd Parquet file, one row group per parsing block (bounded memory).

    Written to a temp file and renamed, so a retried task never leaves a half-written file under `out_path`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from featurebench.results.store import with_metadata

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".tmp-{os.getpid()}-{out_path.name}")
    schema = with_metadata(canonical_schema().empty_table(), _table_metadata(metadata)).schema

    def attempt(block_size: int) -> IngestStats:
        st = IngestStats()
        buffer: list[pa.RecordBatch] = []
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:  # re-created from scratch on a retry
            for batch in iter_record_batches(jsonl_path, goodput=goodput, stats=st, block_size=block_size):
                buffer.append(batch)
                if sum(b.num_rows for b in buffer) >= row_group_rows:
                    writer.write_table(pa.Table.from_batches(buffer), row_group_size=row_group_rows)
                    buffer.clear()
            if buffer:
                writer.write_table(pa.Table.from_batches(buffer), row_group_size=row_group_rows)
        return st

    try:
        stats = _with_block_retry(attempt, block_size)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    _warn_disagreements(jsonl_path, stats)
    return stats


def _table_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    return {"featurebench.table": "requests", "featurebench.table_version": TABLE_VERSION, **(metadata or {})}


def _warn_disagreements(path: str | Path, stats: IngestStats) -> None:
    if stats.aiperf_good_disagreements:
        log.warning("%s: %d request(s) where AIPerf's good_request_count disagrees with the spec's SLOs "
                    "(were AIPerf's --goodput flags built from the same spec?)", path, stats.aiperf_good_disagreements)


def find_records_file(artifact_dir: str | Path) -> Path:
    """profile_export.jsonl, or <prefix>.jsonl when --profile-export-prefix renamed it."""
    artifact_dir = Path(artifact_dir)
    default = artifact_dir / RECORDS_FILE
    if default.exists():
        return default
    skip = re.compile(r"_raw|server_metrics|gpu_telemetry|timeslices")
    found = [p for p in artifact_dir.glob("*.jsonl") if not skip.search(p.name)]
    if len(found) != 1:
        raise FileNotFoundError(f"{artifact_dir}: expected one per-request JSONL export, found {found or 'none'}")
    return found[0]


# -- Parquet metadata ---------------------------------------------------------------------------------------

def parquet_metadata(resolved_spec: ResolvedSpec, run: RunContext | dict, *, trace_sha256: str | None,
                     engine_version: str, aiperf_version: str, platform: str | None = None,
                     simulated: bool | None = None, arm: str | None = None) -> dict[str, str]:
    """What every results file carries so it can be traced back to its inputs; refuses secret-looking values.

    `platform` and `simulated` default to the run's own; `arm` is added when the file belongs to one arm.
    """
    from featurebench.results.store import check_no_secrets
    from featurebench.run import RunContext

    if isinstance(run, dict):
        run = RunContext.from_dict(run)
    spec = resolved_spec.spec
    md = {
        "featurebench.benchmark": spec.id,
        "featurebench.spec_version": str(resolved_spec.version.version),
        "featurebench.spec_sha256": resolved_spec.source_sha256,
        "featurebench.trace_sha256": trace_sha256 or "",
        "featurebench.run_id": run.run_id,
        "featurebench.date": run.date,
        "featurebench.image_tag": run.image_tag,
        "featurebench.gpu_type": run.gpu_type,
        "featurebench.engine_version": engine_version,
        "featurebench.aiperf_version": aiperf_version,
        "featurebench.platform": platform if platform is not None else run.platform,
        "featurebench.simulated": str(run.simulated if simulated is None else simulated).lower(),
        "featurebench.table_version": TABLE_VERSION,
    }
    if arm is not None:
        md["featurebench.arm"] = arm
    if spec.goodput is not None:
        md["featurebench.goodput"] = spec.goodput.aiperf_arg()
    check_no_secrets(md)
    return md

