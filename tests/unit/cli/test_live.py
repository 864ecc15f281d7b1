"""What `featurebench run` shows: the arm phases from the task states, the analysis line, errors from the log.
The real CLI on a failing run is in tests/e2e/test_run_output.py."""

from __future__ import annotations

from featurebench.cli.live import TaskRow, analysis_view, arm_views, task_errors

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
