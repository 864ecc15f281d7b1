"""A real backfill through the real scheduler: api-server + scheduler (LocalExecutor, SQLite) + dag-processor.

tests/test_backfill.py runs each date with `airflow dags test`; this one runs `airflow backfill create` against
running Airflow components, the way a backfill happens in production, and checks what it left behind:

- one successful backfill run per weekly tick from 2026-08-10 to 2026-08-31 (Mondays 02:00 UTC),
- each run's run.json (written by resolve_config) has the spec version and image tag in force on its logical
  date: 2026.07 / 1.3.1 before 2026-08-21, 2026.08 / 1.3.0 from then on,
- results sit under date=<logical date>, so the history reads in date order,
- dry_run stops at the short-circuit: every arm task is skipped and no Dynamo process is ever started,
- every socket our processes listen on is on 127.0.0.1, and every process we started is gone at the end.

Everything lives in a private AIRFLOW_HOME under tmp. `[scheduler] use_job_schedule = False` because unpausing
a DAG whose CronTriggerTimetable has catchup=False would otherwise also schedule its latest weekly tick, a real
(non dry-run) local benchmark; backfill runs are created by `backfill create` and still run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from featurebench.cli.airflow_local import LocalAirflow, free_port, import_gpu_pools, loopback_env
from featurebench.layout import run_prefix, safe_run_id
from featurebench.spec import REPO_ROOT, load_spec

BENCH = "qwen3-32b-kv-routing"  # versions 2026.07 (image 1.3.1) and, from 2026-08-21, 2026.08 (image 1.3.0)
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DATES = ["2026-08-10", "2026-08-17", "2026-08-24", "2026-08-31"]  # cron "0 2 * * 1": Mondays 02:00 UTC
EXPECTED = {"2026-08-10": ("2026.07", "1.3.1"), "2026-08-17": ("2026.07", "1.3.1"),
            "2026-08-24": ("2026.08", "1.3.0"), "2026-08-31": ("2026.08", "1.3.0")}
DEADLINE_S = 8 * 60


def _tree(pids: list[int]) -> list[psutil.Process]:
    procs = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs += [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return procs


def _cmdlines(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(" ".join(p.cmdline()))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return out


def _listeners(procs: list[psutil.Process]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket of these processes (`ss -ltnp` by another route)."""
    found = []
    for p in procs:
        try:
            for c in p.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    found.append((p.pid, c.laddr.ip, c.laddr.port))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def _ss_listeners(pids: set[int]) -> list[str]:
    """The lines of `ss -ltnp` that belong to our processes (when ss is installed)."""
    try:
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=20).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    return [line for line in out.splitlines() if any(f"pid={pid}," in line for pid in pids)]


def _group_members(pgids: list[int]) -> list[int]:
    members = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) in pgids and p.status() != psutil.STATUS_ZOMBIE:
                members.append(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            pass
    return members


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, migrated_airflow_db):
    tmp = tmp_path_factory.mktemp("backfill-scheduler")
    port = free_port()
    e = dict(os.environ)
    e.update(
        AIRFLOW_HOME=str(tmp / "airflow"), FEATUREBENCH_WORK=str(tmp / "work"), FEATUREBENCH_RESULTS=str(tmp / "results"),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"), AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO_ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",  # loopback-only test server: REST without login
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",  # backfill runs only, no scheduled "latest tick" run
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT / "plugins"), e.get("PYTHONPATH")])),
    )
    e = loopback_env(e, port)
    migrated_airflow_db.seed(e["AIRFLOW_HOME"])
    # The arm tasks name GPU pools (gpu_<pool>); a fresh DB has only default_pool. A dry run skips those tasks,
    # so it also passes without them (tried), but a real backfill needs them: create them as a deployment does.
    import_gpu_pools(e, tmp)
    return e, port, tmp


def test_backfill_through_the_scheduler(airflow_env):
    env, port, tmp = airflow_env
    logs = tmp / "logs"
    logs.mkdir()
    started = time.monotonic()
    airflow = LocalAirflow(env, port, logs, components=("api-server", "scheduler", "dag-processor"))
    procs = airflow.procs
    api = airflow
    seen_cmdlines: set[str] = set()
    listeners: set[tuple[int, str, int]] = set()
    ss_lines: list[str] = []

    def sample() -> None:
        tree = _tree([p.pid for p in procs.values()])
        seen_cmdlines.update(_cmdlines(tree))
        listeners.update(_listeners(tree))

    def alive() -> None:
        dead = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
        if dead:
            tails = {n: (logs / f"{n}.log").read_text()[-2000:] for n in dead}
            pytest.fail(f"Airflow component(s) exited: {dead}\n{tails}")

    def cli(*args: str) -> str:
        proc = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, f"airflow {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    try:
        airflow.start()

        # The DAG is in the DB once the dag-processor has parsed the folder (and the API is up).
        while True:
            alive()
            sample()
            try:
                dag = api.get(f"/api/v2/dags/{BENCH}")
                break
            except OSError:
                pass
            assert time.monotonic() - started < 180, "DAG not parsed / API not up within 3 min"
            time.sleep(2)
        print(f"\nAPI up and DAG parsed after {time.monotonic() - started:.0f}s")
        # Why use_job_schedule=False: catchup=False puts the next scheduled run at the latest past tick, which
        # an unpaused DAG would start right away.
        next_run = dt.datetime.fromisoformat(dag["next_dagrun_run_after"])
        print(f"next scheduled run (not created here): {next_run}")
        assert next_run <= dt.datetime.now(dt.UTC)

        cli("dags", "unpause", BENCH)
        created = cli("backfill", "create", "--dag-id", BENCH, "--from-date", "2026-08-10",
                      "--to-date", "2026-09-01",  # inclusive, but a date is its midnight: 08-31 02:00 needs 09-01
                      "--dag-run-conf", json.dumps({"dry_run": True}), "--max-active-runs", "2")
        print(created[-1500:])

        # Wait for the backfill's runs to finish.
        runs: list[dict] = []
        while True:
            alive()
            sample()
            runs = [r for r in api.get(f"/api/v2/dags/{BENCH}/dagRuns?limit=100")["dag_runs"]
                    if r["run_type"] == "backfill"]
            if len(runs) >= len(DATES) and all(r["state"] in ("success", "failed") for r in runs):
                break
            if time.monotonic() - started > DEADLINE_S:
                pytest.fail(f"backfill not finished after {DEADLINE_S}s: "
                            f"{[(r['logical_date'], r['state']) for r in runs]}")
            time.sleep(3)
        elapsed = time.monotonic() - started
        sample()
        ss_lines = _ss_listeners({p.pid for p in _tree([p.pid for p in procs.values()])})
        backfills = api.get(f"/api/v2/backfills?dag_id={BENCH}")["backfills"]
        tis = {
            r["dag_run_id"]: api.get(f"/api/v2/dags/{BENCH}/dagRuns/{r['dag_run_id']}/taskInstances?limit=100")
            for r in runs
        }
    finally:
        airflow.stop()
        leftovers = _group_members([p.pid for p in procs.values()])

    print(f"backfill of {len(runs)} runs done {elapsed:.0f}s after start; listeners: {sorted(listeners)}")
    for line in ss_lines:
        print("ss:", line)
    assert not leftovers, f"processes left running after stop: {leftovers}"

    # Loopback only: every socket any of our processes listened on.
    assert listeners, "the api-server should have been seen listening"
    assert all(ip == "127.0.0.1" for _, ip, _ in listeners), sorted(listeners)
    assert ("127.0.0.1", port) in {(ip, p) for _, ip, p in listeners}, sorted(listeners)
    assert all("127.0.0.1:" in line.split()[3] for line in ss_lines), ss_lines

    # One backfill, one successful run per weekly date.
    assert len(backfills) == 1 and backfills[0]["max_active_runs"] == 2, backfills
    by_date: dict[str, list[dict]] = {}
    for r in runs:
        by_date.setdefault(r["logical_date"][:10], []).append(r)
    assert sorted(by_date) == DATES, sorted(by_date)
    for day, day_runs in sorted(by_date.items()):
        assert len(day_runs) == 1, (day, day_runs)
        (r,) = day_runs
        assert r["state"] == "success", (day, r["state"], [(t["task_id"], t["state"]) for t in
                                                           tis[r["dag_run_id"]]["task_instances"]])
        assert r["logical_date"].startswith(f"{day}T02:00:00"), r["logical_date"]
        assert r["conf"] == {"dry_run": True}, r["conf"]

    # The backfill's --max-active-runs 2, not the DAG's max_active_runs=1, bounds how many of its runs overlap.
    spans = [(dt.datetime.fromisoformat(r["start_date"]), dt.datetime.fromisoformat(r["end_date"])) for r in runs]
    overlap = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    print(f"at most {overlap} backfill runs were running at once")
    assert 1 <= overlap <= 2, spans

    # Dry run: configuration resolved, then everything downstream of the gate skipped; no engine anywhere.
    for run_id, listing in tis.items():
        states = {(t["task_id"], t["map_index"]): t["state"] for t in listing["task_instances"]}
        assert states[("resolve_config", -1)] == "success", states
        assert states[("deploy_or_dry_run", -1)] == "success", states
        others = {k: v for k, v in states.items() if k[0] not in ("resolve_config", "deploy_or_dry_run")}
        assert others and set(others.values()) == {"skipped"}, (run_id, others)
    dynamo = [c for c in seen_cmdlines if "dynamo" in c or "aiperf" in c]
    assert not dynamo, dynamo
    assert not (Path(env["FEATUREBENCH_WORK"]) / "runs").exists() or not any(
        (Path(env["FEATUREBENCH_WORK"]) / "runs").rglob("*")), "a run work folder was created (plan_arm ran)"

    # run.json under date=<logical date>/run=<safe run id>: the version in force on that date.
    results = Path(env["FEATUREBENCH_RESULTS"])
    spec_file = load_spec(BENCH)
    for day, (r,) in sorted(by_date.items()):
        prefix = results / run_prefix(BENCH, day, safe_run_id(r["dag_run_id"]))
        run = json.loads((prefix / "run.json").read_text())
        expected = spec_file.version_at(dt.date.fromisoformat(day))
        assert (expected.version, expected.image_tag) == EXPECTED[day]
        print(f"{day}: {r['dag_run_id']} -> spec {run['spec_version']}, image {run['image_tag']}, dry_run {run['dry_run']}")
        assert (run["spec_version"], run["image_tag"], run["date"], run["dry_run"]) == (*EXPECTED[day], day, True)
        assert f":{run['image_tag']}" in (prefix / "manifests.yaml").read_text()
    # Nothing written anywhere else: the history is exactly these dates, in order.
    dirs = sorted(p.name for p in (results / f"benchmark={BENCH}").iterdir())
    assert dirs == [f"date={d}" for d in DATES], dirs
    versions = [json.loads(next((results / f"benchmark={BENCH}" / d).glob("run=*/run.json")).read_text())["spec_version"]
                for d in dirs]
    assert versions == ["2026.07", "2026.07", "2026.08", "2026.08"]
    assert elapsed < DEADLINE_S
