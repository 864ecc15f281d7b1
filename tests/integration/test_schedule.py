"""Weekly schedules: every benchmark DAG runs once a week, and benchmarks sharing a GPU pool never overlap."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.timetables.trigger import CronTriggerTimetable

from featurebench.analysis.schedules import MIN_GAP, clashes, estimated_duration, weekly_start, windows
from featurebench.spec import load_all


@pytest.fixture(scope="module")
def specs():
    loaded, errors = load_all()
    assert errors == {}
    return [f.latest.spec for f in loaded.values()]


def _fire_times(dag, n: int) -> list[dt.datetime]:
    """The next n run times the DAG's own timetable produces (what the scheduler will do)."""
    from airflow.timetables.base import TimeRestriction

    times, last = [], None
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    for _ in range(n):
        info = dag.timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        times.append(info.run_after)
        last = info.data_interval
    return times


def test_every_benchmark_dag_runs_weekly(specs):
    from airflow.dag_processing.dagbag import DagBag

    from featurebench.spec import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert {s.id for s in specs} <= set(bag.dag_ids)
    for dag_id in (s.id for s in specs):
        dag = bag.dags[dag_id]
        assert type(dag.timetable).__name__ == CronTriggerTimetable.__name__, dag_id
        times = _fire_times(dag, 5)
        gaps = {(b - a).total_seconds() / 3600 for a, b in zip(times, times[1:])}
        assert gaps == {7 * 24.0}, f"{dag_id}: runs every {gaps} h"


def test_window_arithmetic_catches_overlap_and_wraparound(specs):
    """The clash finder itself: two copies of one spec on one pool clash; a Saturday-night run that lasts
    past midnight clashes with a Sunday-early one (the week wraps)."""
    a = specs[0]
    b = a.model_copy(update={"id": "copy"})
    assert clashes([a, b])
    sat = a.model_copy(update={"schedule": a.schedule.model_copy(update={"cron": "0 22 * * 6"})})
    sun = a.model_copy(update={"id": "sun", "schedule": a.schedule.model_copy(update={"cron": "0 1 * * 0"})})
    assert weekly_start("0 1 * * 0") < weekly_start("0 22 * * 6")
    assert clashes([sat, sun])
    far = sun.model_copy(update={"schedule": sun.schedule.model_copy(update={"cron": "0 2 * * 3"})})
    assert not clashes([sat, far])


def test_no_two_benchmarks_on_one_pool_overlap(specs):
    for w in sorted(windows(specs), key=lambda w: (w.pool, w.start)):
        spec = next(s for s in specs if s.id == w.benchmark)
        print(f"{w.pool:6} {spec.schedule.cron:12} {w.benchmark:32} est. {estimated_duration(spec)} "
              f"+ {MIN_GAP} gap")
    starts = [(s.hardware.pool, weekly_start(s.schedule.cron)) for s in specs]
    assert len(set(starts)) == len(starts), "two benchmarks start on one pool at the same time"
    assert clashes(specs) == []
