"""`python -m featurebench.traces generate <benchmark-id> [--full]`: make a benchmark's trace file."""

from __future__ import annotations

import argparse
import json
import sys

from featurebench.spec import SpecError, load_spec
from featurebench.traces import TraceError, ensure_trace, traffic_fingerprint
from featurebench.traces.manifest import read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m featurebench.traces")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate (or verify) a benchmark's trace")
    gen.add_argument("benchmark")
    gen.add_argument("--full", action="store_true", help="the spec's full-size traffic, not local.traffic")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.benchmark).latest.spec
        traffic = spec.traffic if args.full else spec.local.traffic
        if traffic.file is None:
            print(f"{args.benchmark}: {traffic.kind} traffic (isl {traffic.isl}, osl {traffic.osl}); "
                  f"no file to make, fingerprint {traffic_fingerprint(traffic)}")
            return 0
        path = ensure_trace(traffic, full=args.full)
    except (SpecError, TraceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    print(json.dumps(read_manifest(path)["stats"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
