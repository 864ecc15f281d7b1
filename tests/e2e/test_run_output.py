"""`featurebench run` in a pipe, on a failing run: the failed task, its error and the log file come first,
as plain lines without control codes; the Airflow log is in the file, not on the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_failed_run_names_the_task_its_error_and_the_log_first(tmp_path):
    """The real CLI, in a pipe, with a load generator that exits 1 at once (/bin/false)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
           "FEATUREBENCH_WORK": str(tmp_path / "work"), "FEATUREBENCH_RESULTS": str(tmp_path / "results"),
           "FEATUREBENCH_AIPERF_BIN": "/bin/false",
           "FEATUREBENCH_PREFLIGHT": "off"}  # covered by test_e2e_local and test_e2e_kubernetes
    out = subprocess.run([sys.executable, "-m", "featurebench", "run", "qwen3-32b-kv-routing", "--trials", "1"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    text = out.stdout
    print(text)
    assert out.returncode != 0
    assert "\x1b" not in text, "control codes in a pipe"
    lines = text.splitlines()
    assert len(lines) <= 60
    failed = next(i for i, line in enumerate(lines) if line.startswith("FAILED:"))
    tail = "\n".join(lines[failed:failed + 6])
    assert "task arm_agg_round_robin.run_load [replay trial 1]:" in tail
    assert "LocalPlatformError: AIPerf wrote no .aiperf_results_ready.json." in tail
    log = re.search(r"full log: (\S+)", "\n".join(lines[failed:])).group(1)
    assert "Task failed with exception" in (REPO / log if not log.startswith("/") else Path(log)).read_text()
    assert any(re.match(r"\[\d\d:\d\d\] agg-round-robin: failed; torn down$", line) for line in lines), lines
    assert "DagRun Finished" not in text, "the Airflow log went to the terminal"
