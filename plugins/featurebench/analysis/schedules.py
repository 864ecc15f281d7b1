"""Weekly schedule windows: a rough duration estimate per benchmark and the clashes between benchmarks that
share a GPU pool. Runs on one pool must not overlap: the arms would queue on the Airflow pool and one run's
load would land beside another's deployment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from featurebench.spec import BenchmarkSpec

WEEK_MIN = 7 * 24 * 60
MIN_GAP = dt.timedelta(hours=6)  # margin after the estimated end, for slow pulls and retries
UNKNOWN_TRIAL = dt.timedelta(minutes=20)  # a request-count trial with no duration: a generous guess


def estimated_duration(spec: BenchmarkSpec) -> dt.timedelta:
    """Upper-end estimate of one scheduled (kubernetes) run: per arm the readiness budget, then every load point
    x trial with its warmup. Arms add up unless they run in parallel."""
    load = spec.load
    if load.mode == "fixed_schedule":
        trial = dt.timedelta(seconds=spec.traffic.params.get("duration_s", 3600))  # replay lasts the trace
    elif load.duration_s:
        trial = dt.timedelta(seconds=load.duration_s + (load.ramp_s or 0))
    else:
        trial = UNKNOWN_TRIAL
    trial += dt.timedelta(minutes=5)  # warmup, artifacts upload
    per_arm = [dt.timedelta(seconds=spec.ready_timeout_s) + trial * spec.trials * len(spec.load_points(a))
               for a in spec.arms]
    return max(per_arm) if spec.arms_in_parallel else sum(per_arm, dt.timedelta())


def weekly_start(cron: str) -> int:
    """Minute of the week (Sunday 00:00 = 0) a weekly 'M H * * D' cron fires at."""
    minute, hour, _, _, dow = cron.split()
    return (int(dow) % 7) * 24 * 60 + int(hour) * 60 + int(minute)


@dataclass(frozen=True)
class Window:
    benchmark: str
    pool: str
    start: int  # minute of the week
    length: int  # minutes, estimate + MIN_GAP


def windows(specs: list[BenchmarkSpec]) -> list[Window]:
    return [Window(s.id, s.hardware.pool, weekly_start(s.schedule.cron),
                   int((estimated_duration(s) + MIN_GAP).total_seconds() // 60)) for s in specs]


def clashes(specs: list[BenchmarkSpec]) -> list[str]:
    """Pairs of benchmarks on one pool whose windows (start .. estimated end + MIN_GAP) overlap, the week
    wrapping around from Saturday to Sunday."""
    out = []
    ws = windows(specs)
    for i, a in enumerate(ws):
        for b in ws[i + 1:]:
            if a.pool != b.pool:
                continue
            a_to_b = (b.start - a.start) % WEEK_MIN  # minutes from a's start to b's next start
            b_to_a = (a.start - b.start) % WEEK_MIN
            if a_to_b < a.length or b_to_a < b.length:
                out.append(f"pool {a.pool}: {a.benchmark} ({a.start // 60 % 24:02d}:{a.start % 60:02d} day "
                           f"{a.start // 1440}, ~{a.length / 60:.1f} h with gap) overlaps {b.benchmark} "
                           f"({b.start // 60 % 24:02d}:{b.start % 60:02d} day {b.start // 1440}, ~{b.length / 60:.1f} h)")
    return out
