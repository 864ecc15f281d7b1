"""What the load Jobs read and write through the results store: the run's trace (and its images) published for
the load pods, and the artifacts each Job uploaded, downloaded and checked complete."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from featurebench.errors import KubernetesError
from featurebench.layout import traffic_key
from featurebench.run import RunContext
from featurebench.spec import ResolvedSpec

log = logging.getLogger(__name__)

READY_MARKER = ".aiperf_results_ready.json"  # AIPerf writes it when its results are final


def store_for(results_root: str):
    from featurebench.results.store import Store

    return Store.from_uri(results_root)


def publish_traffic(run: RunContext, resolved: ResolvedSpec) -> list[str]:
    """Put the run's trace where its load Jobs fetch it (FEATUREBENCH_TRACE_URI): <run>/traffic/<file>, and for a
    multimodal trace every image its rows name, beside it with the same relative paths as under include/traces
    (the load pod inlines them, or serves them to the engine over http). Idempotent: each arm's provision and
    each retry calls it; images already there with the same size are not sent again. Returns the keys sent."""
    from featurebench.loadgen.aiperf import load_settings
    from featurebench.traces import ensure_trace, image_names, media_mode

    traffic, _, _ = load_settings(resolved, "kubernetes")
    if traffic.kind != "trace":
        return []
    if not run.results_root.startswith("s3://"):
        log.warning("results root %s is not s3://: load pods can read and write it only if it is mounted in them "
                    "at the same path", run.results_root)
    trace = ensure_trace(traffic)
    key = traffic_key(run.benchmark, run.date, run.run_id, traffic.file)
    store = store_for(run.results_root)
    store.put_file(trace, key)  # small, and always the verified file of this spec version
    sent = [key]
    if media_mode(traffic):
        base = key.rsplit("/", 1)[0]
        for name in image_names(trace):
            path, image_key = trace.parent / name, f"{base}/{name}"
            if store.size(image_key) != path.stat().st_size:  # images are deterministic: same name, same bytes
                store.put_file(path, image_key)
                sent.append(image_key)
    log.info("traffic for the load pods: %s (%d files sent)", store.uri(key), len(sent))
    return sent


def download(results_root: str, prefix: str, dest: Path) -> Path:
    """Copy the store's files under `prefix` into `dest` (emptied first), streamed: artifacts can be GBs."""
    import pyarrow.fs as pafs

    store = store_for(results_root)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if not store.list(prefix):
        raise KubernetesError(f"the load Job finished but wrote nothing under {store.uri(prefix)}")
    pafs.copy_files(f"{store.root}/{prefix.strip('/')}", str(dest), source_filesystem=store.fs,
                    destination_filesystem=pafs.LocalFileSystem())
    return dest


def check_artifacts(folder: Path, where: str) -> None:
    """AIPerf's completion marker says the results are final; refuse partial or cancelled runs."""
    marker = folder / READY_MARKER
    if not marker.exists():
        files = sorted(p.name for p in folder.iterdir())
        raise KubernetesError(f"{where}: no {READY_MARKER}; AIPerf did not finish (files: {files})")
    state = json.loads(marker.read_text())
    if not state.get("ready") or state.get("was_cancelled") or state.get("partial"):
        raise KubernetesError(f"{where}: AIPerf results are not final: {state}")
    if not (folder / "profile_export.jsonl").exists():
        raise KubernetesError(f"{where}: no profile_export.jsonl (per-request records) among the artifacts")

