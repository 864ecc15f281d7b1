"""One trial in one row: our summary of the canonical table (following AIPerf 0.13's definitions), and
AIPerf's own aggregate (profile_export_aiperf.json) put beside it for comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from featurebench.spec import Goodput


SUMMARY_FILE = "profile_export_aiperf.json"


def read_aiperf_summary(artifact_dir: str | Path) -> dict:
    """profile_export_aiperf.json: {metrics: {tag: block}, error_summary, was_cancelled, aiperf_version, slos, …}."""
    path = Path(artifact_dir) / SUMMARY_FILE
    data = json.loads(path.read_text())
    metrics = {k: v for k, v in data.items() if isinstance(v, dict) and "unit" in v}
    ready = Path(artifact_dir) / ".aiperf_results_ready.json"
    return {
        "profiling_window_s": _profiling_window_s(Path(artifact_dir) / "phase_manifest.json"),
        "aiperf_version": data.get("aiperf_version"),
        "schema_version": data.get("schema_version"),
        "benchmark_id": data.get("benchmark_id"),
        "was_cancelled": bool(data.get("was_cancelled", False)),
        "is_complete": data.get("is_complete"),
        "error_summary": data.get("error_summary") or [],
        "slos": (data.get("input_config") or {}).get("slos") or {},
        "ready": json.loads(ready.read_text()) if ready.exists() else None,
        "metrics": metrics,
    }


def _profiling_window_s(manifest: Path) -> float | None:
    """AIPerf 0.13 divides its throughputs by the profiling phase window (phase_manifest.json), not by
    benchmark_duration; the two differ by a few ms (credit issue and end-of-phase bookkeeping)."""
    if not manifest.exists():
        return None
    for phase in json.loads(manifest.read_text()).get("phases", []):
        if phase.get("phase_kind") == "profiling" and phase.get("start_ns") and phase.get("end_ns"):
            return (phase["end_ns"] - phase["start_ns"]) / 1e9
    return None


# our summary key -> (AIPerf tag, stat, factor to our unit); summarize_trial puts AIPerf's value at 'aiperf_<key>'.
AIPERF_EQUIVALENT: dict[str, tuple[str, str, float]] = {
    "ok_requests": ("request_count", "avg", 1.0),
    "errors": ("error_request_count", "avg", 1.0),
    "error_rate": ("request_error_rate", "avg", 0.01),
    "duration_s": ("benchmark_duration", "avg", 1.0),
    "request_throughput_rps": ("request_throughput", "avg", 1.0),
    "output_token_throughput_tps": ("output_token_throughput", "avg", 1.0),
    "total_output_tokens": ("total_osl", "avg", 1.0),
    "good_requests": ("good_request_count", "avg", 1.0),
    "goodput_rps": ("goodput", "avg", 1.0),
    "good_fraction": ("good_request_fraction", "avg", 1.0),
    **{f"ttft_ms_{s}": ("time_to_first_token", s, 1.0) for s in ("mean", "p50", "p90", "p99")},
    **{f"itl_ms_{s}": ("inter_token_latency", s, 1.0) for s in ("mean", "p50", "p90", "p99")},
    **{f"icl_ms_{s}": ("inter_chunk_latency", s, 1.0) for s in ("mean", "p50", "p90", "p99")},
    **{f"request_latency_ms_{s}": ("request_latency", s, 1.0) for s in ("mean", "p50", "p90", "p99")},
    "output_tps_per_user_mean": ("output_token_throughput_per_user", "mean", 1.0),
    "cached_token_share": ("overall_usage_prompt_cache_read_pct", "avg", 0.01),
    **{f"credit_to_start_ms_{s}": ("credit_to_start_latency", s, 1.0) for s in ("p50", "p99")},
}


def _stats(values, *, mean: bool = True, pcts=(50, 90, 99)) -> dict[str, float | None]:
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    out: dict[str, float | None] = {}
    if mean:
        out["mean"] = float(arr.mean()) if arr.size else None
    # linear interpolation, as AIPerf's metric_result_from_array; all percentiles in one partition of the array
    values = np.percentile(arr, pcts) if arr.size and pcts else [None] * len(pcts)
    for p, v in zip(pcts, values):
        out[f"p{p}"] = float(v) if v is not None else None
    return out


# the columns summarize_trial reads from successful rows; filtering only these skips the string columns
_SUMMARY_COLUMNS = ["request_start_ns", "ttft_ms", "request_latency_ms", "itl_ms", "inter_chunk_latency_ms",
                    "input_tokens", "output_tokens", "cached_tokens", "output_tps_per_user"]


def _ok_rows(table: pa.Table, columns: list[str]) -> pa.Table:
    """The successful rows of `columns`; no copy when every row succeeded (the common case)."""
    ok = table.column("ok")
    narrow = table.select(columns)
    if ok.null_count == 0 and ok.num_chunks and all(c.true_count == len(c) for c in ok.chunks):
        return narrow
    return narrow.filter(ok)


def aiperf_duration_s(table: pa.Table) -> float | None:
    """AIPerf's benchmark_duration: max(start + request_latency) - min(start), successful requests only."""
    return _duration_of_ok_rows(_ok_rows(table, ["request_start_ns", "request_latency_ms"]))


def _duration_of_ok_rows(ok: pa.Table) -> float | None:
    import numpy as np

    if ok.num_rows == 0:
        return None
    start = ok.column("request_start_ns").to_numpy(zero_copy_only=False).astype(np.int64)
    latency_ns = np.rint(ok.column("request_latency_ms").to_numpy(zero_copy_only=False) * 1e6)
    return float((np.nanmax(start + latency_ns) - start.min()) / 1e9)


def summarize_trial(table: pa.Table, *, duration_s: float | None = None, gpus: int,
                    aiperf_summary: dict | None = None) -> dict[str, Any]:
    """One row of per-trial statistics from the canonical table, with AIPerf's own numbers alongside."""
    import numpy as np
    import pyarrow.compute as pc

    def col(t: pa.Table, name: str) -> np.ndarray:
        return t.column(name).to_numpy(zero_copy_only=False).astype(np.float64)  # nulls -> nan

    ok = _ok_rows(table, _SUMMARY_COLUMNS)
    requests, n_ok = table.num_rows, ok.num_rows
    duration = duration_s if duration_s is not None else _duration_of_ok_rows(ok)  # filtered once, above
    good_known = table.column("good").null_count < requests or requests == 0
    good = int(pc.sum(table.column("good")).as_py() or 0) if good_known else None
    out_tokens = float(np.nansum(col(ok, "output_tokens")))
    cached, inputs = col(ok, "cached_tokens"), col(ok, "input_tokens")
    has_cache = not np.all(np.isnan(cached)) if n_ok else False

    def per_s(x: float | None) -> float | None:
        return x / duration if x is not None and duration else None

    s: dict[str, Any] = {
        "requests": requests,
        "ok_requests": n_ok,
        "errors": requests - n_ok,
        "cancelled": int(pc.sum(table.column("cancelled")).as_py() or 0),
        "error_rate": (requests - n_ok) / requests if requests else None,
        "duration_s": duration,
        "gpus": gpus,
        "request_throughput_rps": per_s(n_ok),
        "output_token_throughput_tps": per_s(out_tokens),
        "output_tps_per_gpu": per_s(out_tokens / gpus) if gpus else None,
        "total_output_tokens": out_tokens,
        "input_tokens_mean": float(np.nanmean(inputs)) if n_ok else None,
        "output_tokens_mean": out_tokens / n_ok if n_ok else None,
        "good_requests": good,
        "goodput_rps": per_s(good),
        "good_fraction": good / requests if good is not None and requests else None,
        "cache_hit_fraction": float(np.mean(np.nan_to_num(cached) > 0)) if has_cache else None,
        "cached_token_share": float(np.nansum(cached) / np.nansum(inputs)) if has_cache and np.nansum(inputs) else None,
    }
    for key, values, kw in (
        ("ttft_ms", col(ok, "ttft_ms"), {}),
        ("itl_ms", col(ok, "itl_ms"), {}),
        ("icl_ms", ok.column("inter_chunk_latency_ms").combine_chunks().flatten().to_numpy(zero_copy_only=False)
         if n_ok else [], {}),
        ("request_latency_ms", col(ok, "request_latency_ms"), {}),
        ("output_tps_per_user", col(ok, "output_tps_per_user"), {"pcts": ()}),
        # AIPerf computes this over every record (errors included): it measures the client, not the server.
        ("credit_to_start_ms", np.maximum(col(table, "credit_to_start_ms"), 0.0), {"mean": False, "pcts": (50, 99)}),
    ):
        s.update({f"{key}_{stat}": v for stat, v in _stats(values, **kw).items()})

    if aiperf_summary is not None:
        metrics = aiperf_summary.get("metrics", {})
        for key, (tag, stat, factor) in AIPERF_EQUIVALENT.items():
            block = metrics.get(tag) or {}
            value = block.get("avg" if stat == "mean" else stat)
            if tag == "error_request_count" and value is None and tag not in metrics:
                value = 0.0  # AIPerf omits the block on a clean run
            s[f"aiperf_{key}"] = value * factor if value is not None else None
        s["aiperf_requests"] = (s["aiperf_ok_requests"] or 0) + (s["aiperf_errors"] or 0)
        s["aiperf_profiling_window_s"] = aiperf_summary.get("profiling_window_s")
        s["aiperf_version"] = aiperf_summary.get("aiperf_version")
        s["aiperf_was_cancelled"] = aiperf_summary.get("was_cancelled")
    return s


def compare_with_aiperf(summary: dict[str, Any]) -> dict[str, float]:
    """Relative difference |ours - aiperf| / |aiperf| for every key both sides report."""
    diffs = {}
    for key in AIPERF_EQUIVALENT:
        ours, theirs = summary.get(key), summary.get(f"aiperf_{key}")
        if ours is None or theirs is None:
            continue
        diffs[key] = abs(ours - theirs) / abs(theirs) if theirs else (0.0 if math.isclose(ours, 0) else math.inf)
    return diffs


def goodput_from_summary(summary: dict) -> Goodput | None:
    """The SLOs AIPerf ran with (from its input_config), when both TTFT and ITL were set."""
    from featurebench.spec import Goodput

    slos = summary.get("slos") or {}
    if "time_to_first_token" in slos and "inter_token_latency" in slos:
        return Goodput(ttft_ms=slos["time_to_first_token"], itl_ms=slos["inter_token_latency"])
    return None
