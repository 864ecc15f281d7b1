"""`featurebench ingest <aiperf-artifact-dir> <out.parquet>`: one AIPerf run -> the canonical per-request table."""

from __future__ import annotations

from pathlib import Path

from featurebench.results.records import find_records_file, ingest_to_parquet
from featurebench.results.summary import SUMMARY_FILE, goodput_from_summary, read_aiperf_summary


def ingest_cli(argv: list[str] | str | Path, out_parquet: str | Path | None = None) -> int:
    """`python -m featurebench ingest <aiperf-artifact-dir> <out.parquet>`: convert and print row counts.

    Takes the two paths, or the CLI's argument list. Returns 1 when the row count disagrees with AIPerf's.
    """
    if out_parquet is None:
        import argparse

        parser = argparse.ArgumentParser(prog="python -m featurebench ingest", description=ingest_cli.__doc__)
        parser.add_argument("artifact_dir", type=Path)
        parser.add_argument("out_parquet", type=Path)
        args = parser.parse_args(argv)
        argv, out_parquet = args.artifact_dir, args.out_parquet
    artifact_dir = Path(argv)
    summary = read_aiperf_summary(artifact_dir) if (artifact_dir / SUMMARY_FILE).exists() else None
    goodput = goodput_from_summary(summary) if summary else None
    md = {"featurebench.aiperf_version": summary["aiperf_version"]} if summary and summary["aiperf_version"] else {}
    stats = ingest_to_parquet(find_records_file(artifact_dir), out_parquet, goodput, md)
    good = f", good {stats.good}" if goodput else ""
    print(f"{out_parquet}: {stats.rows} requests ({stats.errors} errors{good}); "
          f"{stats.warmup_dropped} warmup rows dropped")
    if summary:
        m = summary["metrics"]
        expected = (m.get("request_count") or {}).get("avg", 0) + (m.get("error_request_count") or {}).get("avg", 0)
        if int(expected) != stats.rows:
            print(f"warning: AIPerf counted {int(expected)} profiled requests, the table has {stats.rows}")
            return 1
    return 0
