"""Ingestion: AIPerf per-request JSONL -> canonical Parquet (results.ingest_to_parquet), against
pyarrow.json.read_json of the same file (all fields, multithreaded, nothing written) as the reference.

Each side runs in its own fresh interpreter so its peak RSS (getrusage) is its own. The file is read once
beforehand so both sides start from a warm page cache.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PEAK_RSS, WORK, n_requests, run_child
from gen_records import records_file

OURS = PEAK_RSS + """
import json, sys, time
from featurebench.results import records as results
t = time.perf_counter()
st = results.ingest_to_parquet(sys.argv[1], sys.argv[2], goodput=None)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": st.rows, "peak_rss_mib": peak_mib()}))
"""

REFERENCE = PEAK_RSS + """
import json, sys, time
import pyarrow.json as pj
t = time.perf_counter()
table = pj.read_json(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t, "rows": table.num_rows, "peak_rss_mib": peak_mib()}))
"""


def run(n: int | None = None) -> dict:
    n = n or n_requests()
    path = records_file(n)
    with open(path, "rb") as f:  # warm the page cache for both sides alike
        while f.read(64 << 20):
            pass
    out = WORK / f"requests_{n}.parquet"
    ours = run_child(OURS, str(path), str(out))
    ref = run_child(REFERENCE, str(path))
    assert ours["rows"] == ref["rows"] == n, (ours, ref, n)
    mb = path.stat().st_size / 1e6
    return {"requests": n, "file_mb": round(mb), "ours": ours, "reference": ref,
            "ours_mb_s": mb / ours["seconds"], "reference_mb_s": mb / ref["seconds"],
            "throughput_ratio": ref["seconds"] / ours["seconds"], "parquet_mb": out.stat().st_size / 1e6}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else None), indent=1))
