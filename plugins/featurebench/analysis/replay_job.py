"""One offline replay (Dynamo's `dynamo.replay`, simulated time) of one arm at one load point.

Runs inside the simulator environment (.venvs/dynamo), so it imports nothing from featurebench and nothing
beyond the standard library and Dynamo. Reads a job as JSON on stdin, writes JSON on stdout:
    {"summary": {...}, "requests": [{per-request record}, ...], "engine_args": {...}, "wall_s": float}
The job is made by featurebench.analysis.predict.replay_job (its docstring lists the fields).
"""

from __future__ import annotations

import json
import sys
import time


def _blocks(args: dict, cache: dict) -> dict:
    """Fill num_gpu_blocks from AIConfigurator's memory model (the GPU's KV capacity), once per shape."""
    if args.get("num_gpu_blocks") or not args.get("aic_backend"):
        return args
    from dynamo._internal.aic import estimate_num_gpu_blocks

    key = json.dumps({k: v for k, v in sorted(args.items()) if k.startswith("aic_") or k == "block_size"})
    if key not in cache:
        cache[key] = estimate_num_gpu_blocks(
            args["aic_backend"], args["aic_system"], args["aic_model_path"], args.get("aic_tp_size", 1),
            args.get("block_size", 64), args.get("max_num_batched_tokens", 8192),
            gpu_memory_utilization=args.get("gpu_memory_utilization", 0.9),
            free_gpu_memory_fraction=args.get("free_gpu_memory_fraction"),
            backend_version=args.get("aic_backend_version"), moe_tp_size=args.get("aic_moe_tp_size"),
            moe_ep_size=args.get("aic_moe_ep_size"), attention_dp_size=args.get("aic_attention_dp_size"),
            gemm_dtype=args.get("aic_gemm_dtype"), moe_dtype=args.get("aic_moe_dtype"),
            fmha_dtype=args.get("aic_fmha_dtype"), kv_cache_dtype=args.get("aic_kv_cache_dtype"),
            comm_dtype=args.get("aic_comm_dtype"))
    return {**args, "num_gpu_blocks": cache[key]}


def _engine(args: dict | None, cache: dict):
    from dynamo.mocker import MockEngineArgs

    if args is None:
        return None, None
    args = _blocks(dict(args), cache)
    return MockEngineArgs.from_json(json.dumps(args)), args


KEEP = ("uuid", "session_id", "turn_index", "arrival_time_ms", "terminal_time_ms", "terminal_status", "ttft_ms",
        "ttst_ms", "e2e_latency_ms", "itl_ms", "input_length", "output_length", "reused_input_tokens")


def run(job: dict) -> dict:
    from dynamo.replay import run_synthetic_trace_replay, run_trace_replay

    cache: dict = {}
    engines = {role: _engine(job.get(role), cache) for role in ("agg", "prefill", "decode")}
    common = dict(router_mode=job["router_mode"], replay_mode="offline", replay_concurrency=job.get("concurrency"),
                  capture_per_request=True, sla_ttft_ms=job.get("sla_ttft_ms"), sla_itl_ms=job.get("sla_itl_ms"))
    if engines["agg"][0] is not None:
        common |= dict(extra_engine_args=engines["agg"][0], num_workers=job["workers"]["agg"])
    else:
        common |= dict(prefill_engine_args=engines["prefill"][0], decode_engine_args=engines["decode"][0],
                       num_prefill_workers=job["workers"]["prefill"], num_decode_workers=job["workers"]["decode"])
    start = time.perf_counter()
    if job.get("trace"):
        report = run_trace_replay([job["trace"]], trace_block_size=job["trace_block_size"],
                                  trace_format=job.get("trace_format", "mooncake"),
                                  arrival_speedup_ratio=job.get("arrival_speedup_ratio", 1.0),
                                  max_sim_time_ms=job.get("max_sim_time_ms"), **common)
    else:
        syn = job["synthetic"]
        report = run_synthetic_trace_replay(syn["isl"], syn["osl"], syn["requests"], **common)
    wall = time.perf_counter() - start
    requests = [{k: r.get(k) for k in KEEP} for r in report.per_request or []]  # what the canonical table needs
    return {"summary": report.summary, "requests": requests, "wall_s": wall,
            "engine_args": {role: used for role, (_, used) in engines.items() if used is not None}}


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
