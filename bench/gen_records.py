"""A large AIPerf profile_export.jsonl shaped like the recorded runs in tests/fixtures/aiperf*/.

Every line is one of the recorded profiling records (successes with their inter-chunk latency lists, and the
timeout errors of the mocker run) with fresh ids and wall-clock timestamps, so the parser sees exactly AIPerf's
field order, the ~40 metric tags we skip, and its number formatting. Written once per size and reused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, WORK

FIXTURES = [REPO / "tests" / "fixtures" / "aiperf", REPO / "tests" / "fixtures" / "aiperf_mocker_timeouts"]
_VARY_STR = ("x_request_id", "x_correlation_id", "conversation_id", "root_correlation_id")
_VARY_NS = ("credit_issued_ns", "request_start_ns", "request_ack_ns", "request_end_ns", "cancellation_time_ns")


def _templates() -> list[tuple[str, dict[str, int]]]:
    """(%-format template, offsets of its timestamps from credit_issued_ns) per recorded profiling record."""
    out = []
    for d in FIXTURES:
        for line in (d / "profile_export.jsonl").read_text().splitlines():
            rec = json.loads(line)
            md = rec["metadata"]
            if md.get("benchmark_phase") != "profiling":
                continue
            base = md["credit_issued_ns"]
            offsets = {k: md[k] - base for k in _VARY_NS if k in md}
            md["session_num"] = "@@session_num@@"
            for k in _VARY_STR:
                if k in md:
                    md[k] = f"@@{k}@@"
            for k in offsets:
                md[k] = f"@@{k}@@"
            text = json.dumps(rec, separators=(",", ":")).replace("%", "%%")
            text = text.replace('"@@session_num@@"', "%(session_num)d")
            for k in _VARY_STR:
                text = text.replace(f"@@{k}@@", f"%({k})s")
            for k in offsets:
                text = text.replace(f'"@@{k}@@"', f"%({k})d")
            out.append((text, offsets))
    return out


def records_file(n: int) -> Path:
    """Path of a JSONL with n profiling records, generated on first use."""
    path = WORK / f"profile_export_{n}.jsonl"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    templates = _templates()
    tmp = path.with_suffix(".tmp")
    t0 = 1_795_717_904_000_000_000
    with open(tmp, "w") as f:
        lines = []
        for i in range(n):
            text, offsets = templates[i % len(templates)]
            credit = t0 + i * 1_000_000  # one credit per ms
            uid = f"{i:08x}-0000-4000-8000-{i:012x}"
            values = {"session_num": i, "x_request_id": uid, "x_correlation_id": uid, "root_correlation_id": uid,
                      "conversation_id": f"session_{i:07d}",
                      **{k: credit + off for k, off in offsets.items()}}
            lines.append(text % values)
            if len(lines) == 10_000:
                f.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            f.write("\n".join(lines) + "\n")
    tmp.rename(path)
    return path


if __name__ == "__main__":
    print(records_file(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
