"""The preflight on the full-size qwen3-32b-kv-routing trace (12,031 requests, both arms): goal under 60 s.

Wall time of `python -m featurebench predict qwen3-32b-kv-routing --format json` in a fresh process with an empty
prediction cache (FEATUREBENCH_WORK is a temporary folder: a cached answer takes ~2 s and measures nothing; trace
generation is excluded: it is made once and reused), the CPU time of it and its replay processes, and each
replay's own simulated-time loop (`replay_wall_s`, dynamo.replay's own clock). Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, REPO, loadavg

BENCHMARK = "qwen3-32b-kv-routing"
GOAL_S = 60.0


def run() -> dict:
    subprocess.run([PY, "-m", "featurebench", "traces", "generate", BENCHMARK, "--full"], cwd=REPO, check=False,
                   capture_output=True)  # the trace exists before the clock starts (ensure_trace also makes it)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = loadavg()
    with tempfile.TemporaryDirectory(prefix="fb-bench-predict-") as work:
        start = time.perf_counter()
        proc = subprocess.run([PY, "-m", "featurebench", "predict", BENCHMARK, "--format", "json"], cwd=REPO,
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "FEATUREBENCH_WORK": work})
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    doc = json.loads(proc.stdout)
    requests = {r["arm"]: r["value"] for r in doc["arms"] if r["metric"] == "request_rps"}
    return {"wall_s": round(wall, 1), "cpu_s": round(after.ru_utime + after.ru_stime
                                                      - before.ru_utime - before.ru_stime, 1),
            "goal_s": GOAL_S, "met": wall < GOAL_S, "load_average_at_start": load, "load_average_at_end": loadavg(),
            "arms": sorted(requests), "replay_wall_s": {k: round(v, 1) for k, v in doc["replay_wall_s"].items()},
            "verdicts": {r["treatment"]: r["verdict"] for r in doc["comparison"]
                         if r["metric"] == "ttft" and r["stat"] == "p50"}}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
