"""What `featurebench run` shows while the DAG runs: per arm deploying -> ready -> trial k of N -> torn down.

The signal is Airflow's own record of the run: the task instance states in the metadata database that
`airflow dags test` writes as it goes (the same states the UI shows). It does not depend on log wording or
on the platform (local processes or Kubernetes objects). On a terminal a rich progress display redraws in
place; anywhere else (CI, a pipe) each change is one plain line, without control codes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

TERMINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}


def metadata_db_url(env: dict[str, str]) -> str:
    """The metadata database of the Airflow that `env` configures (SQLite in AIRFLOW_HOME unless set)."""
    return env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or f"sqlite:///{Path(env['AIRFLOW_HOME']) / 'airflow.db'}"


@dataclasses.dataclass
class TaskRow:
    task_id: str
    map_index: int
    state: str | None
    label: str | None  # the rendered map index, e.g. "replay trial 2"


class RunStates:
    """Reads the task instances of one DAG run, read-only, with plain SQL (no Airflow import: the CLI's own
    process must not pick up an Airflow configuration)."""

    def __init__(self, db_url: str, dag_id: str):
        import sqlalchemy

        self._sa = sqlalchemy
        self.engine = sqlalchemy.create_engine(db_url, poolclass=sqlalchemy.pool.NullPool)
        self.dag_id = dag_id

    def run_ids(self) -> set[str]:
        rows = self._query("SELECT run_id FROM dag_run WHERE dag_id = :d", d=self.dag_id)
        return {r[0] for r in rows} if rows is not None else set()

    def run_state(self, run_id: str) -> str | None:
        rows = self._query("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=self.dag_id, r=run_id)
        return rows[0][0] if rows else None

    def tasks(self, run_id: str) -> list[TaskRow] | None:
        rows = self._query(
            "SELECT task_id, map_index, state, rendered_map_index FROM task_instance "
            "WHERE dag_id = :d AND run_id = :r", d=self.dag_id, r=run_id,
        )
        return None if rows is None else [TaskRow(*r) for r in rows]

    def _query(self, sql: str, **params) -> list[tuple] | None:
        try:
            with self.engine.connect() as conn:
                return [tuple(r) for r in conn.execute(self._sa.text(sql), params)]
        except self._sa.exc.OperationalError:  # locked by the writer for a moment, or not created yet
            return None


@dataclasses.dataclass
class ArmView:
    """One arm's place in its life cycle, derived from its tasks' states."""

    name: str
    phase: str = "waiting"  # waiting | deploying | ready | trial | tearing down | torn down | failed... | skipped
    done: int = 0  # trials finished
    total: int = 0  # (load point, trial) jobs; 0 until the load is planned
    current: str = ""  # the running trial's label

    def text(self) -> str:
        if self.phase == "trial":
            return f"trial {min(self.done + 1, self.total)} of {self.total}" + (f" ({self.current})" if self.current else "")
        if self.phase == "ready":
            return "ready"
        return self.phase


def arm_views(arms: list[str], rows: list[TaskRow]) -> dict[str, ArmView]:
    """Each arm's view from the task instances (task ids arm_<name>.<step>, see dag_builder)."""
    views = {}
    for arm in arms:
        group = f"arm_{arm.replace('-', '_')}."
        mine = {}
        loads = []
        for r in rows:
            if r.task_id.startswith(group):
                step = r.task_id[len(group):]
                if step == "run_load":
                    if r.map_index >= 0:
                        loads.append(r)
                else:
                    mine[step] = r.state
        v = ArmView(arm, total=len(loads), done=sum(1 for r in loads if r.state == "success"))
        running = [r for r in loads if r.state == "running"]
        v.current = re.sub(r"\s*trial \d+$", "", running[0].label or "") if running else ""  # the load point
        if any(r.state == "up_for_retry" for r in loads) or "up_for_retry" in mine.values():
            v.current = (v.current + ", " if v.current else "") + "retrying after an error"
        states = set(mine.values()) | {r.state for r in loads}
        failed = "failed" in states
        if mine.get("teardown") == "success":
            v.phase = "failed; torn down" if failed else "torn down"
        elif failed:
            v.phase = "failed; tearing down" if mine.get("teardown") != "skipped" else "failed"
        elif mine.get("provision") in ("skipped", "upstream_failed"):
            v.phase = "skipped"
        elif running or (loads and v.done < v.total and mine.get("wait_ready") == "success"):
            v.phase = "trial"
        elif mine.get("wait_ready") == "success":
            v.phase = "ready" if v.done < v.total or not loads else "tearing down"
        elif mine.get("provision") in ("running", "success") or mine.get("wait_ready") in ("running", "deferred"):
            v.phase = "deploying"
        views[arm] = v
    return views


_ANALYSIS = {"compare": "comparing the arms", "report": "writing the report", "publish": "publishing the results",
             "regression_check": "checking for regressions against earlier runs"}


def analysis_view(rows: list[TaskRow]) -> str:
    """compare -> report -> publish -> regression_check, as one line."""
    states = {r.task_id: r.state for r in rows}
    for task, doing in _ANALYSIS.items():
        if states.get(task) == "failed":
            return f"{task} failed"
        if states.get(task) == "upstream_failed":
            return "not run: an earlier task failed"
        if states.get(task) == "skipped":
            return "skipped"
        if states.get(task) != "success":
            return "waiting" if task == "compare" and states.get(task) in (None, "scheduled") else doing
    return "done"


class Display:
    """Rich progress on a terminal, plain lines elsewhere; both are fed the same ArmViews."""

    def __init__(self, stream, arms: list[str], tty: bool):
        self.tty = tty
        self.stream = stream
        self.started = time.monotonic()
        self.last: dict[str, str] = {}
        self.deploying_at: dict[str, float] = {}
        self.ready_at: dict[str, float] = {}
        if tty:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("{task.fields[key]:<18}"), BarColumn(bar_width=20), TextColumn("{task.description:<34}"),
                _times_column(), console=Console(file=stream), refresh_per_second=4,
            )
            self.rows = {k: self.progress.add_task("waiting", key=k, total=None, start=False)
                         for k in ["configuration", *arms, "analysis"]}
            self.progress.start()

    def update(self, config: str, views: dict[str, ArmView], analysis: str) -> None:
        if self.tty:
            self._row("configuration", config, 1, int(config == "done"), config in ("done", "failed"))
            for arm, v in views.items():
                self._row(arm, v.text(), v.total or None, v.done, v.phase in ("torn down", "failed; torn down",
                                                                               "failed", "skipped"))
            self._row("analysis", analysis, None, 0, analysis in ("done", "skipped") or "failed" in analysis)
            return
        self._line("configuration", config)
        for arm, v in views.items():
            if v.phase in ("trial", "tearing down", "torn down") and arm not in self.ready_at:
                self._line(arm, "ready")  # polled past it: still say so, once
            if v.phase == "deploying":
                self.deploying_at.setdefault(arm, time.monotonic())
            # a label arriving late is no news, a retry is
            self._line(arm, v.text(), (v.phase, v.done, v.total, "retrying" in v.current))
        self._line("analysis", analysis)

    def _row(self, key: str, text: str, total: int | None, done: int, finished: bool) -> None:
        row = self.rows[key]
        if text != "waiting" and not self.progress.tasks[row].started:
            self.progress.start_task(row)
        if total and "trials_from" not in self.progress.tasks[row].fields:
            self.progress.update(row, trials_from=time.monotonic())
        self.progress.update(row, description=text, total=total if total or not finished else 1,
                             completed=done if total or not finished else 1)
        if finished and self.progress.tasks[row].stop_time is None:
            self.progress.stop_task(row)

    def _line(self, key: str, text: str, change: object = None) -> None:
        change = text if change is None else change
        if text == "waiting" or self.last.get(key) == change:
            return
        self.last[key] = change
        if text == "ready":
            self.ready_at[key] = time.monotonic()
            if key in self.deploying_at:
                text += f" (deployed in {self.ready_at[key] - self.deploying_at[key]:.0f} s)"
        elapsed = int(time.monotonic() - self.started)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {key}: {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            self.progress.stop()


_STARTING = "starting Airflow (airflow dags test parses the DAGs)"
_CONFIG_WORDS = {"running": "resolving the spec version, rendering every manifest", "success": "done",
                 "failed": "failed", "up_for_retry": "retrying after an error"}


def _times_column():
    """`k/N  elapsed  ETA` of a row: the count and the ETA only once there is a total to count against."""
    import datetime as dt

    from rich.progress import ProgressColumn
    from rich.text import Text

    def clock(seconds: float) -> str:
        return str(dt.timedelta(seconds=int(seconds)))

    class Times(ProgressColumn):
        def render(self, task) -> Text:
            if not task.started:
                return Text("")
            parts = [f"{int(task.completed)}/{int(task.total)}" if task.total and task.fields["key"] not in
                     ("configuration", "analysis") else "", clock(task.elapsed or 0)]
            trials_from = task.fields.get("trials_from")
            if task.total and task.completed and trials_from and not task.finished:
                # the trials so far, on average; ready (deployed) is when the first one started
                per_trial = (time.monotonic() - trials_from) / task.completed
                parts.append(f"ETA {clock(per_trial * (task.total - task.completed))}")
            return Text("  ".join(p for p in parts if p), style="progress.elapsed")

    return Times()


def watch(
    states: RunStates, arms: list[str], display: Display, finished: Callable[[], bool],
    known_runs: set[str], interval: float = 1.0,
) -> tuple[str | None, list[TaskRow]]:
    """Poll until `finished()`; returns the run id and its last task rows."""
    run_id, rows = None, []
    display.update(_STARTING, {a: ArmView(a) for a in arms}, "waiting")
    while True:
        done = finished()
        if run_id is None:
            new = states.run_ids() - known_runs
            run_id = next(iter(new), None) if len(new) == 1 else None
        if run_id is not None:
            fresh = states.tasks(run_id)
            rows = fresh if fresh is not None else rows
            config = _CONFIG_WORDS.get({r.task_id: r.state for r in rows}.get("resolve_config"), _STARTING)
            display.update(config, arm_views(arms, rows), analysis_view(rows))
        if done:
            return run_id, rows
        time.sleep(interval)


def is_terminal(stream) -> bool:
    return stream.isatty() and os.environ.get("TERM") != "dumb"


_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def task_errors(log_text: str) -> dict[tuple[str, int], str]:
    """(task id, map index) -> the exception that ended its last failed attempt, from the run's log: the
    last line of Python's traceback and the message lines that follow it, up to the next log record."""
    errors: dict[tuple[str, int], str] = {}
    current: tuple[str, int] | None = None
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        if m := _START.search(line):
            current = (m.group(1), int(m.group(2)))
        elif "Task failed with exception" in line and current:
            j = i + 1
            while j < len(lines) and (lines[j].startswith(("Traceback", "  ", "During handling", "The above"))
                                      or not lines[j].strip()):
                j += 1
            message = []
            while j < len(lines) and not _STAMP.match(lines[j]) and len(message) < 12:
                if lines[j].strip():
                    message.append(lines[j].rstrip())
                j += 1
            errors[current] = "\n".join(message) or "(no exception text in the log)"
    return errors
