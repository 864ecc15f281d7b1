"""`featurebench compare`: an A/B comparison from a stored run or from AIPerf artifact directories, printed as
text, JSON or Markdown, optionally with the report. It sits above both the analysis and the report, so neither
imports the other's way back (the compare <-> report cycle of the single modules)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

from featurebench.analysis.compare import compare_arms, compare_run
from featurebench.analysis.health import FAILED_REQUEST_THRESHOLD
from featurebench.errors import SpecError
from featurebench.reporting.arm_setup import describe
from featurebench.reporting.report import metrics_markdown, render_report, simulated_from
from featurebench.results.records import find_records_file, ingest_records
from featurebench.results.store import Store
from featurebench.results.summary import SUMMARY_FILE, goodput_from_summary, read_aiperf_summary
from featurebench.spec import Goodput, load_spec


def _read_artifact_dir(path: Path, goodput) -> Any:
    if goodput is None and (path / SUMMARY_FILE).exists():  # the SLOs AIPerf itself ran with
        goodput = goodput_from_summary(read_aiperf_summary(path))
    return ingest_records(find_records_file(path), goodput=goodput)


def _stored_run(store, prefix: str) -> dict | None:
    """run.json of a stored run (platform, arms, trials), when resolve_config wrote one."""
    key = f"{prefix}/run.json"
    return json.loads(store.read_bytes(key)) if store.exists(key) else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="featurebench compare", description=(
        "Compare a treatment with a control: either a stored run (--store/--run) or AIPerf artifact "
        "directories, one per trial (--control DIR... --treatment DIR...)."))
    p.add_argument("--store", help="results root (folder or s3://bucket/prefix)")
    p.add_argument("--run", help="run prefix: benchmark=<id>/date=<YYYY-MM-DD>/run=<run-id>")
    p.add_argument("--control", nargs="+", type=Path, metavar="DIR", help="AIPerf artifact dirs of the control")
    p.add_argument("--treatment", nargs="+", type=Path, metavar="DIR", help="AIPerf artifact dirs of the treatment")
    p.add_argument("--point", default="p0", help="load point label for artifact directories")
    p.add_argument("--gpus-control", type=int, default=1)
    p.add_argument("--gpus-treatment", type=int, default=1)
    p.add_argument("--threshold-pct", type=float, default=5.0)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--failed-request-threshold", type=float, default=FAILED_REQUEST_THRESHOLD, metavar="RATIO",
                   help="a trial with a larger share of failed requests is INVALID (AIPerf's convention, 0-1)")
    p.add_argument("--goodput", nargs=2, type=float, metavar=("TTFT_MS", "ITL_MS"), help="SLOs for goodput")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.add_argument("--report-dir", type=Path, help="also write report.md / report.html here")
    return p


def compare_cli(argv: list[str] | None = None) -> int:
    """`python -m featurebench compare ...`; returns the exit code."""
    import pandas as pd

    args = _parser().parse_args(argv)
    if args.control or args.treatment:
        if not (args.control and args.treatment):
            print("error: give both --control and --treatment directories", file=sys.stderr)
            return 2
        goodput = None
        if args.goodput:
            goodput = Goodput(ttft_ms=args.goodput[0], itl_ms=args.goodput[1])
        dirs = [d.resolve() for d in args.control + args.treatment]
        repeated = sorted({str(d) for d in dirs if dirs.count(d) > 1})
        if repeated:
            print(f"error: {', '.join(repeated)} given more than once (as control and treatment, or twice in one arm): "
                  "a folder compared with itself shows no change by construction", file=sys.stderr)
            return 2
        try:
            tables = {("control", args.point, i): _read_artifact_dir(d, goodput) for i, d in enumerate(args.control)}
            tables |= {("treatment", args.point, i): _read_artifact_dir(d, goodput)
                       for i, d in enumerate(args.treatment)}
            result = compare_arms(tables, "control", {"control": args.gpus_control, "treatment": args.gpus_treatment},
                                  args.threshold_pct, args.confidence, ["ttft_p50", "ttft_p90", "itl_mean", "goodput_rps"],
                                  failed_request_threshold=args.failed_request_threshold)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        context = dict(title="AIPerf artifact comparison", question="Treatment vs control (artifact directories)",
                       simulated=None, provenance=result.provenance)  # no spec: no setup card
    elif args.store and args.run:
        m = re.search(r"benchmark=([^/]+)/date=([^/]+)/run=[^/]+", args.run)
        if not m:
            print(f"error: --run {args.run!r} is not benchmark=<id>/date=<date>/run=<id>", file=sys.stderr)
            return 2
        try:
            day = dt.date.fromisoformat(m.group(2))
        except ValueError:
            print(f"error: --run {args.run!r}: date {m.group(2)!r} is not YYYY-MM-DD", file=sys.stderr)
            return 2
        try:
            resolved = load_spec(m.group(1)).resolve(day)
            store = Store.from_uri(args.store)
            if store.scheme == "file" and not Path(store.root).is_dir():
                raise FileNotFoundError(f"--store {args.store!r}: no such folder")
            result = compare_run(store, m.group(0), resolved, write=False)
        except (SpecError, FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        context = dict(title=resolved.spec.title, question=resolved.spec.question,
                       simulated=simulated_from(result.provenance), provenance=result.provenance,
                       setup=describe(resolved.spec, _stored_run(store, m.group(0))))
    else:
        print("error: give --store and --run, or --control DIR... and --treatment DIR...", file=sys.stderr)
        return 2

    if args.format == "json":
        print(json.dumps(result.records(), indent=1))
    elif args.format == "markdown":
        print(metrics_markdown(result))
    else:
        with pd.option_context("display.width", 200, "display.max_rows", 500):
            cols = ["point", "treatment", "metric", "stat", "control", "treatment_value", "delta_pct", "ci_low",
                    "ci_high", "verdict"]
            print(result.table[cols].round(3).to_string(index=False))
    if args.report_dir:
        md, html = render_report(result, **context)
        args.report_dir.mkdir(parents=True, exist_ok=True)
        (args.report_dir / "report.md").write_text(md)
        (args.report_dir / "report.html").write_text(html)
    return 0
