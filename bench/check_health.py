"""Load-generator health end to end on the local platform: a trial whose client cannot keep up is INVALID.

One arm, two load points on the same deployment: the spec's own trace replay (the client keeps up: VALID)
and the same trace compressed SPEEDUP times (replay-x1000: ~10,000 requests per second asked of
AIPerf on 2 shared cores: INVALID). Each trial is ingested (results.ingest_records), its summary computed
(summary.summarize_trial: credit_to_start p50/p99) and judged by health.trial_health; compare_arms then
shows the invalid trial in its validity table and leaves it out of the statistics.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, WORK

SPEC = "qwen3-32b-kv-routing"
SPEEDUP = os.environ.get("BENCH_HEALTH_SPEEDUP", "1000")


def run() -> dict:
    os.environ["FEATUREBENCH_WORK"] = str(WORK / "health")
    sys.path.insert(0, str(REPO / "plugins"))
    from featurebench.analysis import compare, health
    from featurebench.platforms.local import LocalPlatform
    from featurebench.results import records as results
    from featurebench.results import summary as trial_summary
    from featurebench.run import RunContext
    from featurebench.spec import load_spec

    resolved = load_spec(SPEC).latest
    arm = resolved.spec.control.name
    points = ["replay", f"replay-x{SPEEDUP}"]
    run_ctx = RunContext(benchmark=SPEC, run_id=f"health-{os.getpid()}", date="2026-11-26", platform="local",
                         arms=[arm], points={arm: points}, trials=1, spec_version="bench", spec_sha256="0" * 64,
                         image_tag="bench", gpu_type="sim", results_root=str(WORK / "health" / "results"))
    platform = LocalPlatform()
    out, tables = {}, {}
    try:
        endpoint = platform.provision(run_ctx, resolved, arm)
        platform.wait_ready(run_ctx, resolved, arm, endpoint)
        for point in points:
            artifacts = platform.run_load(run_ctx, resolved, arm, endpoint, point, 0)
            table = results.ingest_records(results.find_records_file(artifacts), goodput=resolved.spec.goodput)
            summary = trial_summary.summarize_trial(table, gpus=1, aiperf_summary=trial_summary.read_aiperf_summary(artifacts))
            valid, reasons = health.trial_health(table)
            tables[(arm, point, 0)] = tables[("treatment", point, 0)] = table
            out[point] = {"requests": table.num_rows, "credit_to_start_ms_p50": summary["credit_to_start_ms_p50"],
                          "credit_to_start_ms_p99": summary["credit_to_start_ms_p99"],
                          "aiperf_credit_to_start_ms_p99": summary.get("aiperf_credit_to_start_ms_p99"),
                          "valid": valid, "reasons": reasons}
    finally:
        platform.teardown(run_ctx, arm)
    result = compare.compare_arms(tables, arm, {arm: 1, "treatment": 1}, keep_distributions=False)
    v = result.validity
    out["compare_validity"] = v[["arm", "point", "valid", "reasons"]].to_dict(orient="records")
    fast = result.table[result.table.point == points[1]]
    out["compare_method_at_fast_point"] = sorted(set(fast.method))
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=1, default=str))
