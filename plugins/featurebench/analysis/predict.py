"""Preflight: predict every arm's metrics on the hardware the spec names, before anything is deployed.

Each arm and load point is one offline replay (Dynamo's `dynamo.replay`, simulated time) of the spec's full-size
traffic, on the arm's full-size deployment: its router mode, P/D layout, worker counts, and the AIConfigurator
identity of `simulator:`. The replayed requests become the canonical per-request table, so `compare` computes
the predicted metrics and the predicted A/B verdict exactly as it does for measurements.

    python -m featurebench predict <benchmark-id> [--format text|json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurebench.errors import ComparisonInputError
from featurebench.spec import simulator

REPLAY_JOB = Path(__file__).with_name("replay_job.py")
ROUTER_MODES = {"round-robin": "round_robin", "kv": "kv_router"}  # what the offline replay has
# Multi-turn rows whose input_length is the turn's new tokens (AIPerf appends the conversation so far): the
# replay's delta format. Single-turn Mooncake rows carry the whole prompt.
TRACE_FORMATS = {"agentic": "mooncake_delta"}
PREDICTION_COLUMNS = ["arm", "point", "metric", "stat", "unit", "value"]


class PredictError(RuntimeError):
    pass


@dataclass
class Prediction:
    benchmark: str
    timing: str  # simulator.timing_source(...)
    arms: Any  # DataFrame, PREDICTION_COLUMNS
    comparison: Any  # compare.ComparisonResult of the predicted arms (None with fewer than two)
    not_modelled: dict[str, list[str]] = field(default_factory=dict)  # arm -> what its prediction leaves out
    skipped: dict[str, str] = field(default_factory=dict)  # arm -> why it has no prediction
    wall_s: dict[str, float] = field(default_factory=dict)  # "arm/point" -> replay wall time
    comparison_error: str | None = None  # why the predicted arms could not be compared

    def to_json(self) -> dict:
        rows = self.arms.astype(object).where(self.arms.notna(), None).to_dict(orient="records")
        return {"benchmark": self.benchmark, "timing": self.timing, "arms": rows,
                "comparison": self.comparison.records() if self.comparison is not None else [],
                "comparison_error": self.comparison_error, "not_modelled": self.not_modelled,
                "skipped": self.skipped, "replay_wall_s": self.wall_s}


# ------------------------------------------------------------------------------------------------ jobs


def _pools(arm) -> dict[str, int]:
    """Worker count per role at full size (a replica is one engine, whatever its GPUs)."""
    out: dict[str, int] = {}
    for w in arm.deploy.workers:
        out[w.role] = out.get(w.role, 0) + w.replicas
    return out


def replay_job(resolved, arm_name: str, point: str, trace: Path | None) -> dict:
    """The job replay_job.py runs: traffic, load point, router, worker counts and per-role engine args."""
    spec = resolved.spec
    arm = spec.arm(arm_name)
    if arm.deploy.router_mode not in ROUTER_MODES:
        raise PredictError(f"{spec.id}/{arm_name}: the offline replay has no {arm.deploy.router_mode!r} router")
    pools = _pools(arm)
    job: dict[str, Any] = {"router_mode": ROUTER_MODES[arm.deploy.router_mode], "workers": pools}
    for role in pools:
        facts = simulator.deploy_engine_facts(arm, role)
        job[role] = simulator.engine_args(spec, arm_name, role, block_size=facts.pop("block_size"), extra=facts)
        if role != "agg" and job[role].get("aic_attention_dp_size", 1) > 1:
            # the offline disaggregated replay has no attention-DP ranks: time the same GPUs as attention TP
            args = job[role]
            args["aic_tp_size"], args["aic_attention_dp_size"] = args["aic_tp_size"] * args["aic_attention_dp_size"], 1
    load, traffic = spec.load, spec.traffic
    if point.startswith("c"):
        job["concurrency"] = int(point[1:])
    if spec.goodput:
        job |= {"sla_ttft_ms": spec.goodput.ttft_ms, "sla_itl_ms": spec.goodput.itl_ms}
    if traffic.kind == "synthetic":
        n = load.request_count or (load.requests_per_concurrency or 1) * job.get("concurrency", 1)
        job["synthetic"] = {"isl": traffic.isl, "osl": traffic.osl, "requests": n}
    else:
        job |= {"trace": str(trace), "trace_block_size": traffic.params.get("block_size", 512),
                "trace_format": TRACE_FORMATS.get(traffic.generator, "mooncake")}
        if load.duration_s:
            job["max_sim_time_ms"] = load.duration_s * 1000
    return job


def _cache_path(job: dict, python: str) -> Path:
    """Replays are deterministic: the same job on the same simulator (and the same trace bytes) gives the same
    answer, so a re-run (a retried task, the next `make run`) reads it back instead of replaying again."""
    import hashlib

    from featurebench.settings import work_root
    from featurebench.spec.simulator import aic_version

    digest = hashlib.sha256(json.dumps(job, sort_keys=True).encode())
    digest.update(f"{python}|{aic_version()}|{REPLAY_JOB.read_bytes().hex()}".encode())
    if job.get("trace"):
        digest.update(Path(job["trace"]).read_bytes())
    return work_root() / "predictions" / f"{digest.hexdigest()[:32]}.json"


def run_job(job: dict, timeout_s: float = 1800) -> dict:
    """One replay in the simulator environment (.venvs/dynamo); its Rust logs are kept to warnings."""
    from featurebench.settings import dynamo_python

    cache = _cache_path(job, dynamo_python())
    if cache.exists():
        return json.loads(cache.read_text())

    env = {**os.environ, "RUST_LOG": "warn", "DYN_LOG": "warn", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([dynamo_python(), str(REPLAY_JOB)], input=json.dumps(job), capture_output=True,
                          text=True, env=env, timeout=timeout_s)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise PredictError(f"offline replay failed (exit {proc.returncode}):\n{tail}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(proc.stdout)
    tmp.replace(cache)
    return json.loads(proc.stdout)


DP_AS_TP = "attention data parallelism in a P/D pool (the offline disaggregated replay times it as attention TP)"


def _dp_lost(arm) -> list[str]:
    """What replay_job changes about a disaggregated arm's shape (a P/D pool with attention_dp)."""
    return [DP_AS_TP] if any(w.attention_dp and w.role != "agg" for w in arm.deploy.workers) else []


DELTA_DISAGG = ("NOT MODELLED: multi-turn delta trace on a disaggregated arm (Dynamo 1.5.1's offline replay: "
                "\"mooncake-delta trace format is not supported for disaggregated replay\")")


def _unreplayable(spec, arm) -> str | None:
    """Why the offline replay cannot run this arm at all, known before spending a replay on it."""
    disagg = any(w.role != "agg" for w in arm.deploy.workers)
    if disagg and spec.traffic.kind == "trace" and TRACE_FORMATS.get(spec.traffic.generator) == "mooncake_delta":
        return DELTA_DISAGG
    return None


def _run_or_error(job: dict):
    try:
        return run_job(job)
    except PredictError as exc:
        return exc


def requests_table(records: list[dict], goodput) -> Any:
    """Replayed requests -> the canonical per-request table (results.canonical_schema), simulated clock."""
    import pyarrow as pa

    from featurebench.results.records import canonical_schema, is_good

    def ns(ms):
        return None if ms is None else int(ms * 1e6)

    ok = [r.get("terminal_status") == "completed" and r.get("ttft_ms") is not None for r in records]
    itl = [r.get("itl_ms") if good else None for r, good in zip(records, ok)]
    cols: dict[str, Any] = {
        "request_id": [r.get("uuid") for r in records],
        "conversation_id": [r.get("session_id") for r in records],
        "turn_index": [r.get("turn_index") for r in records],
        "credit_issued_ns": [ns(r["arrival_time_ms"]) for r in records],
        "request_start_ns": [ns(r["arrival_time_ms"]) for r in records],
        "request_end_ns": [ns(r.get("terminal_time_ms")) for r in records],
        "ok": ok, "cancelled": [False] * len(records),
        "ttft_ms": [r.get("ttft_ms") if g else None for r, g in zip(records, ok)],
        "ttst_ms": [r.get("ttst_ms") if g else None for r, g in zip(records, ok)],
        "request_latency_ms": [r.get("e2e_latency_ms") if g else None for r, g in zip(records, ok)],
        "itl_ms": itl,
        "inter_chunk_latency_ms": [[] for _ in records],  # the replay reports per-request ITL only
        "input_tokens": [r.get("input_length") for r in records],
        "output_tokens": [r.get("output_length") for r in records],
        "cached_tokens": [r.get("reused_input_tokens") for r in records],
        "output_tps_per_user": [1000.0 / x if x else None for x in itl],
        "credit_to_start_ms": [0.0] * len(records),
    }
    schema = canonical_schema()
    arrays = {name: pa.array(cols[name], type=schema.field(name).type) if name in cols else
              pa.nulls(len(records), schema.field(name).type) for name in schema.names if name != "good"}
    arrays["good"] = is_good(arrays["ok"], arrays["ttft_ms"], arrays["itl_ms"], goodput)
    return pa.table([arrays[name] for name in schema.names], schema=schema)


# --------------------------------------------------------------------------------------------- predict


def predict(resolved, arms: list[str] | None = None, log=print) -> Prediction:
    import pandas as pd

    from featurebench.analysis import compare, metrics
    from featurebench.traces import ensure_trace

    spec = resolved.spec
    timing = simulator.timing_source(spec)
    names = arms or [a.name for a in spec.arms]
    skipped, lost, tables, wall = {}, {}, {}, {}
    if spec.simulator is None or spec.simulator.timing != "aic":
        skipped = {a: f"no calibrated timing ({timing})" for a in names}
    for name in names if not skipped else []:
        missing = simulator.not_modelled(spec, name)
        if not spec.local_arm(name).simulated:  # the arm's feature itself is what the mocker cannot model
            skipped[name] = "NOT MODELLED: " + ", ".join(missing or ["the arm's feature"])
        elif why := _unreplayable(spec, spec.arm(name)):
            skipped[name] = why
        else:
            lost[name] = missing
    trace = None
    if lost and spec.traffic.kind == "trace":
        trace = ensure_trace(spec.traffic, full=True)
    jobs = {}
    for name in lost:
        for point in spec.load_points(spec.arm(name)):
            jobs[(name, point)] = replay_job(resolved, name, point, trace)
        lost[name] += [x for x in _dp_lost(spec.arm(name)) if x not in lost[name]]
    log(f"predict: {spec.id}: {len(jobs)} offline replays ({', '.join(f'{a}@{p}' for a, p in jobs)})")
    # identical jobs (two arms that differ only in what the replay does not model) are replayed once
    unique = {json.dumps(job, sort_keys=True): job for job in jobs.values()}
    # one replay per core: each is a single-threaded simulation in its own process
    with ThreadPoolExecutor(max_workers=max(1, min(len(unique), os.cpu_count() or 1))) as pool:
        done = dict(zip(unique, pool.map(_run_or_error, unique.values())))
    outs = {key: done[json.dumps(job, sort_keys=True)] for key, job in jobs.items()}
    for (name, point), out in outs.items():
        if isinstance(out, PredictError):  # one arm the simulator cannot run does not cost the others
            skipped[name] = f"offline replay failed: {str(out).splitlines()[-1]}"
            lost.pop(name, None)
            continue
        tables[(name, point, 0)] = requests_table(out["requests"], spec.goodput)
        wall[f"{name}/{point}"] = out["wall_s"]
    rows = []
    for (arm, point, _), table in tables.items():
        for (metric, stat), value in metrics.trial_metrics(table, gpus=spec.arm(arm).gpus).items():
            unit = next(u for m, _, u, _ in metrics.METRICS if m == metric)
            rows.append(dict(arm=arm, point=point, metric=metric, stat=stat, unit=unit, value=value))
    result, why = None, None
    if spec.control.name in {a for a, _, _ in tables} and len({a for a, _, _ in tables}) > 1:
        try:
            result = compare.compare_arms(
                tables, control=spec.control.name, gpus={a.name: a.gpus for a in spec.arms},
                threshold_pct=spec.comparison.practical_threshold_pct, confidence=spec.comparison.confidence,
                primary_metrics=spec.comparison.primary_metrics, keep_distributions=False,
                operating_points=spec.comparison.operating_points)
        except ComparisonInputError as exc:  # the per-arm predictions stand; only the verdict is missing
            why = str(exc)
    elif tables:
        why = f"the control {spec.control.name!r} has no prediction" if spec.control.name not in {
            a for a, _, _ in tables} else "only the control has a prediction"
    return Prediction(spec.id, timing, pd.DataFrame(rows, columns=PREDICTION_COLUMNS), result, lost, skipped, wall,
                      why)


def write_prediction(store, run_prefix: str, prediction: Prediction, meta: dict[str, str]) -> str:
    """prediction.parquet beside comparison.parquet: one row per arm, point and metric."""
    import pyarrow as pa

    key = f"{run_prefix}/prediction.parquet"
    table = pa.Table.from_pandas(prediction.arms, preserve_index=False)
    store.write_table(key, table, {**meta, "featurebench.prediction_timing": prediction.timing})
    return key


# ------------------------------------------------------------------------------------------------- CLI


def format_text(p: Prediction) -> str:
    lines = [f"{p.benchmark}: PREDICTION, {p.timing}; offline replay of the full-size traffic (simulated time)"]
    for arm, why in p.skipped.items():
        lines.append(f"{arm}: {why}")
    for (arm, point), group in p.arms.groupby(["arm", "point"], sort=False):
        lines.append(f"{arm} @ {point}" + (f"  (NOT MODELLED: {', '.join(p.not_modelled[arm])})"
                                           if p.not_modelled.get(arm) else ""))
        for r in group.itertuples():
            if r.stat in ("p50", "p90", "mean", "value") and r.metric != "inter_chunk_latency":
                lines.append(f"    {compare_name(r.metric, r.stat):28} {r.value:12.4g} {r.unit}")
    if p.comparison is not None:
        lines.append(f"predicted verdict vs {p.comparison.control}: " + ", ".join(
            f"{t}: {v.upper()}" for t, v in p.comparison.overall().items()))
    elif p.comparison_error:
        lines.append(f"no predicted verdict: {p.comparison_error}")
    if p.arms.empty:
        lines.append("no arm of this benchmark can be predicted (see above)")
    return "\n".join(lines)


def compare_name(metric: str, stat: str) -> str:
    from featurebench.analysis.metrics import metric_name

    return metric_name(metric, stat)


def predict_cli(argv: list[str] | None = None) -> int:
    from featurebench.spec import SpecError, load_spec

    ap = argparse.ArgumentParser(prog="featurebench predict", description=__doc__.split("\n\n")[0])
    ap.add_argument("benchmark")
    ap.add_argument("--format", choices=["text", "json"], default="text")
    ap.add_argument("--arm", action="append", help="only these arms (default: every arm)")
    args = ap.parse_args(argv)
    try:
        resolved = load_spec(args.benchmark).latest
        prediction = predict(resolved, args.arm, log=lambda m: print(m, file=sys.stderr))
    except (SpecError, FileNotFoundError, KeyError, PredictError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(prediction.to_json(), indent=1) if args.format == "json" else format_text(prediction))
    return 0
