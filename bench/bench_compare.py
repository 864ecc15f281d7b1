"""Comparison: two arms x 3 trials x N requests through compare.compare_arms (intervals, health, Pareto, plots).

The six canonical tables are simulated (simulations.synthetic_trial: heavy-tailed TTFT/ITL, 8 chunk gaps per request)
and cached as Parquet under .work/bench/; the timed part starts from the tables already in memory, as the
compare task has them after reading the store. Time and peak RSS are measured in a fresh interpreter.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PEAK_RSS, WORK, n_requests, run_child

CHILD = PEAK_RSS + """
import json, sys, time
import numpy as np, pyarrow.parquet as pq
from featurebench.analysis import compare
from featurebench.analysis import stats
from featurebench.testing import simulations
n, work = int(sys.argv[1]), sys.argv[2]
tables = {}
for arm, scale in (("control", 1.0), ("treatment", 0.95)):
    for trial in range(3):
        path = f"{work}/compare_{arm}_{trial}_{n}.parquet"
        try:
            tables[(arm, "c8", trial)] = pq.read_table(path)
        except FileNotFoundError:
            rng = np.random.default_rng([trial, int(scale * 100)])
            table = simulations.synthetic_trial(rng, requests=n, ttft_scale=scale, itl_scale=scale)
            pq.write_table(table, path)
            tables[(arm, "c8", trial)] = table
before = peak_mib()
t = time.perf_counter()
result = compare.compare_arms(tables, "control", {"control": 1, "treatment": 1}, primary_metrics=["ttft_p50"])
elapsed = time.perf_counter() - t
assert result.validity.valid.all() and len(result.table) > 0
print(json.dumps({"seconds": elapsed, "peak_rss_mib": peak_mib(), "rss_before_mib": before,
                  "ttft_p50_delta_pct": float(result.table.query("metric == 'ttft' and stat == 'p50'").delta_pct.iloc[0])}))
"""


def run(n: int | None = None) -> dict:
    n = n or n_requests()
    WORK.mkdir(parents=True, exist_ok=True)
    out = run_child(CHILD, str(n), str(WORK))
    return {"requests_per_trial": n, **out}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else None), indent=1))
