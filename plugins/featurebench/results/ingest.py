"""One trial's AIPerf artifacts -> the results store (same code for every platform).

Writes, under the trial's Hive partition: requests.parquet (canonical per-request rows), summary.parquet
(one row), and the raw AIPerf files. Every key is derived from (run, arm, point, trial), so a retried task
overwrites its own objects and never duplicates rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

from featurebench import layout, settings
from featurebench.run import RunContext
from featurebench.spec import ResolvedSpec

log = logging.getLogger(__name__)

# Large and reproducible from the trace: not worth copying into the store.
SKIPPED_ARTIFACTS = {"inputs.json", "profile_export_raw.jsonl"}


def trial_metadata(run: RunContext, resolved: ResolvedSpec, arm: str, aiperf_summary: dict) -> dict[str, str]:
    from featurebench.results.records import parquet_metadata

    return parquet_metadata(
        resolved,
        run,
        arm=arm,
        trace_sha256=_trace_sha256(run, resolved),
        engine_version=_engine_version(run),
        aiperf_version=str(aiperf_summary.get("aiperf_version", "unknown")),
    )


def store_trial(
    store, run: RunContext, resolved: ResolvedSpec, arm: str, point: str, trial: int, artifacts: Path
) -> dict:
    import pyarrow as pa

    from featurebench.results.records import ingest_records
    from featurebench.results.summary import read_aiperf_summary, summarize_trial

    spec = resolved.spec
    keys = (run.benchmark, run.date, run.run_id, arm, point, trial)
    aiperf_summary = read_aiperf_summary(artifacts)  # read once: metadata and the summary row both use it
    metadata = trial_metadata(run, resolved, arm, aiperf_summary)
    requests = ingest_records(Path(artifacts) / "profile_export.jsonl", goodput=spec.goodput)
    summary = summarize_trial(requests, duration_s=None, gpus=spec.arm(arm).gpus, aiperf_summary=aiperf_summary)
    summary = {"arm": arm, "point": point, "trial": trial, **summary}

    store.write_table(layout.requests_key(*keys), requests, metadata)
    store.write_table(layout.trial_summary_key(*keys), pa.Table.from_pylist([summary]), metadata)
    if run.platform == "local":  # in a cluster the load pod already uploaded them to this prefix
        prefix = layout.artifacts_prefix(*keys)
        store.delete_prefix(prefix)  # a retry must not leave files of the failed attempt beside the new ones
        for path in sorted(Path(artifacts).rglob("*")):
            if path.is_file() and path.name not in SKIPPED_ARTIFACTS:
                store.put_file(path, f"{prefix}/{path.relative_to(artifacts)}")
    log.info(
        "%s %s trial %d: %d requests (%d failed) -> %s",
        arm, point, trial, summary.get("requests", 0), summary.get("errors", 0), store.uri(layout.requests_key(*keys)),
    )
    keys = ("arm", "point", "trial", "requests", "errors", "ttft_ms_p50", "credit_to_start_ms_p99")
    return {k: summary.get(k) for k in keys}


def _trace_sha256(run: RunContext, resolved: ResolvedSpec) -> str:
    """The checksum of the replayed traffic file, verified against its manifest ('' for synthetic load)."""
    from featurebench.loadgen.aiperf import load_settings
    from featurebench.traces import ensure_trace
    from featurebench.traces.manifest import read_manifest

    traffic, _, _ = load_settings(resolved, run.platform)
    if not traffic.file:
        return ""
    return read_manifest(ensure_trace(traffic))["sha256"]


def _engine_version(run: RunContext) -> str:
    if run.platform != "local":
        return f"dynamo-runtime:{run.image_tag}"
    # Read the installed version from the side environment's metadata instead of starting its Python.
    venv = Path(settings.dynamo_python()).parent.parent
    found = sorted(venv.glob("lib/python*/site-packages/ai_dynamo-*.dist-info"))
    return f"ai-dynamo {found[-1].name.split('-')[1]} (mocker)" if found else "ai-dynamo (version unknown)"
