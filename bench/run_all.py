"""`make bench`: every pipeline benchmark, one table. BENCH_SCALE=1 runs the full sizes (1,000,000 requests per
file / per trial); the default 0.1 keeps the run to a few minutes. BENCH_SKIP_LOCAL=1 skips the two benchmarks
that start a real local deployment (Dynamo mocker + AIPerf). Raw numbers go to .work/bench/results.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_compare
import bench_ingest
import bench_parse
from common import REPO, SCALE, WORK, loadavg, machine, n_requests

GIB = 1024


def _local_ready() -> bool:
    venvs = REPO / ".venvs"
    return (venvs / "dynamo" / "bin" / "python").exists() and (venvs / "aiperf" / "bin" / "aiperf").exists()


def main() -> int:
    rows: list[tuple] = []
    raw: dict = {"machine": machine(), "scale": SCALE, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}

    def row(name, measured, reference, ratio, met):
        rows.append((name, measured, reference, ratio, "yes" if met else "NO", loadavg().split("/")[0]))

    n = n_requests()
    print(f"machine: {raw['machine']}\nload average at start: {loadavg()}; BENCH_SCALE={SCALE:g} "
          f"({n:,} requests per file/trial)", flush=True)

    ing = raw["ingest"] = bench_ingest.run(n)
    row(f"ingest {n:,} records ({ing['file_mb']} MB JSONL) -> Parquet, MB/s", f"{ing['ours_mb_s']:.1f}",
        f"read_json {ing['reference_mb_s']:.1f}; goal >= 0.5x", f"{ing['throughput_ratio']:.2f}x",
        ing["throughput_ratio"] >= 0.5)
    row("ingest peak RSS, MiB (bounded)", f"{ing['ours']['peak_rss_mib']:.0f}",
        f"read_json {ing['reference']['peak_rss_mib']:.0f}; goal < {GIB}", f"{ing['ours']['peak_rss_mib'] / GIB:.2f}",
        ing["ours"]["peak_rss_mib"] < GIB)

    cmp_ = raw["compare"] = bench_compare.run(n)
    row(f"compare 2 arms x 3 trials x {n:,} requests, s", f"{cmp_['seconds']:.2f}", "goal < 10 s (at 1M)",
        f"{cmp_['seconds'] / 10:.2f}", cmp_["seconds"] < 10)
    row("compare peak RSS, MiB (incl. the 6 tables)", f"{cmp_['peak_rss_mib']:.0f}", f"goal < {4 * GIB}",
        f"{cmp_['peak_rss_mib'] / (4 * GIB):.2f}", cmp_["peak_rss_mib"] < 4 * GIB)

    parse = raw["parse"] = bench_parse.run()
    row("DAG parse, dags/ (6 specs + janitor), s", f"{parse['six']['median_parse_s']:.2f}", "goal < 1 s",
        f"{parse['six']['median_parse_s']:.2f}", parse["six"]["median_parse_s"] < 1)
    row("DAG parse, 100 specs, s", f"{parse['hundred']['median_parse_s']:.2f}", "goal < 3 s",
        f"{parse['hundred']['median_parse_s'] / 3:.2f}", parse["hundred"]["median_parse_s"] < 3)
    one = parse["single_dag_context"]
    row("task run of one DAG (parsing context), DAGs built / s", f"{one['dags']} / {one['median_parse_s']:.2f}",
        "goal 1 DAG", "", one["dags"] == 1)

    if os.environ.get("BENCH_SKIP_LOCAL") or not _local_ready():
        print("skipping the local-deployment benchmarks (BENCH_SKIP_LOCAL or no .venvs/dynamo, .venvs/aiperf)")
    else:
        import bench_gpu_time
        import check_health

        trials = None if SCALE >= 1 else 1  # full scale: the spec's local trials
        arms = raw["gpu_time"] = bench_gpu_time.run(trials)
        for a in arms:
            tag = f"{a['arm']} ({a['trials']} trial(s) of {a['point']})"
            row(f"GPU time {tag}: Ready -> first measured request, s", f"{a['ready_to_first_request_s']:.1f}",
                "goal < 5 s", f"{a['ready_to_first_request_s'] / 5:.1f}", a["ready_to_first_request_s"] < 5)
            row(f"GPU time {tag}: last response -> teardown done, s",
                f"{a['last_response_to_teardown_done_s']:.1f}", "goal < 5 s",
                f"{a['last_response_to_teardown_done_s'] / 5:.1f}", a["last_response_to_teardown_done_s"] < 5)
            row(f"GPU time {tag}: pipeline overhead share of life", f"{a['pipeline_overhead_share']:.0%}",
                f"goal < 10% (life {a['life_s']:.0f} s, measured {a['measured_share']:.0%})",
                f"{a['pipeline_overhead_share'] / 0.1:.1f}", a["pipeline_overhead_share"] < 0.1)
        health = raw["health"] = check_health.run()
        points = [p for p in health if p.startswith("replay")]
        for p in points:
            h = health[p]
            want_valid = p == "replay"
            row(f"load-generator health, {p}: credit->start p99 ms", f"{h['credit_to_start_ms_p99']:.1f}",
                f"expect {'VALID' if want_valid else 'INVALID'}; got {'VALID' if h['valid'] else 'INVALID'}", "",
                h["valid"] == want_valid)

    raw["rows"] = rows
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results.json").write_text(json.dumps(raw, indent=1, default=str))
    headers = ("benchmark", "measured", "reference / goal", "ratio", "met?", "load1")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |"  # noqa: E731
    print()
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print(f"\nload average at end: {loadavg()} (1/5/15 min); raw numbers in {WORK / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
