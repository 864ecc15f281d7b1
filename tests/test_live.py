"""What `featurebench run` shows: the arm phases from task states, errors from the log, and the real CLI on a
failing run (the failed task, its error and the log file first; plain lines, no control codes, in a pipe)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from featurebench.live import TaskRow, analysis_view, arm_views, task_errors

REPO = Path(__file__).resolve().parents[1]
ARMS = ["agg-round-robin", "disagg-kv-router"]


def rows(**states) -> list[TaskRow]:
    """TaskRows from task_id=state; run_load entries as `load_<arm>_<index>=state`."""
    out = []
    for key, state in states.items():
        if key.startswith("load_"):
            arm, index = key.removeprefix("load_").rsplit("_", 1)
            out.append(TaskRow(f"arm_{arm}.run_load", int(index), state, f"replay trial {int(index) + 1}"))
        else:
            task = key.replace("__", ".")
            out.append(TaskRow(task, -1, state, None))
    return out


def test_each_arm_goes_deploying_ready_trials_torn_down():
    v = arm_views(ARMS, rows(arm_agg_round_robin__plan="success", arm_agg_round_robin__provision="running"))
    assert v["agg-round-robin"].text() == "deploying" and v["disagg-kv-router"].text() == "waiting"
    v = arm_views(ARMS, rows(arm_agg_round_robin__provision="success", arm_agg_round_robin__wait_ready="success"))
    assert v["agg-round-robin"].text() == "ready"
    v = arm_views(ARMS, rows(arm_agg_round_robin__provision="success", arm_agg_round_robin__wait_ready="success",
                             load_agg_round_robin_0="success", load_agg_round_robin_1="running"))
    arm = v["agg-round-robin"]
    assert (arm.done, arm.total, arm.text()) == (1, 2, "trial 2 of 2 (replay)")
    v = arm_views(ARMS, rows(arm_agg_round_robin__provision="success", arm_agg_round_robin__wait_ready="success",
                             load_agg_round_robin_0="success", load_agg_round_robin_1="success",
                             arm_agg_round_robin__teardown="success"))
    assert v["agg-round-robin"].text() == "torn down"
    v = arm_views(ARMS, rows(arm_agg_round_robin__provision="success", arm_agg_round_robin__wait_ready="success",
                             load_agg_round_robin_0="failed", arm_agg_round_robin__teardown="success",
                             arm_disagg_kv_router__provision="upstream_failed"))
    assert v["agg-round-robin"].text() == "failed; torn down" and v["disagg-kv-router"].text() == "skipped"


def test_analysis_line():
    assert analysis_view(rows(compare=None)) == "waiting"
    assert analysis_view(rows(compare="success", report="running")) == "writing the report"
    assert analysis_view(rows(compare="success", report="failed")) == "report failed"
    assert analysis_view(rows(compare="upstream_failed")) == "not run: an earlier task failed"
    assert analysis_view(rows(compare="success", report="success", publish="success",
                              regression_check="success")) == "done"


def test_the_error_of_each_failed_attempt_comes_from_its_traceback():
    log = "\n".join([
        "2026-12-01T21:43:59.39Z [info ] [DAG TEST] starting task_id=arm_a.run_load map_index=0 [x]",
        "2026-12-01T21:44:00.05Z [error] Task failed with exception     [task] loc=task_runner.py:1676",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in f',
        "    raise LocalPlatformError(",
        "featurebench.platforms.local.LocalPlatformError: AIPerf wrote no .aiperf_results_ready.json.",
        "--- AIPerf output ---",
        "",
        "2026-12-01T21:44:00.06Z [info ] ::group::Post Execute",
        "2026-12-01T21:44:01.00Z [info ] [DAG TEST] starting task_id=compare map_index=-1 [x]",
    ])
    assert task_errors(log) == {("arm_a.run_load", 0): "featurebench.platforms.local.LocalPlatformError: AIPerf wrote "
                                                       "no .aiperf_results_ready.json.\n--- AIPerf output ---"}


def test_a_failed_run_names_the_task_its_error_and_the_log_first(tmp_path):
    """The real CLI, in a pipe, with a load generator that exits 1 at once (/bin/false)."""
    env = {**{k: v for k, v in __import__("os").environ.items() if not k.startswith("AIRFLOW__")},
           "FEATUREBENCH_WORK": str(tmp_path / "work"), "FEATUREBENCH_RESULTS": str(tmp_path / "results"),
           "FEATUREBENCH_AIPERF_BIN": "/bin/false"}
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
