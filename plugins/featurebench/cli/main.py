"""`python -m featurebench ...`: list, run, ui, janitor, render, ingest, compare, traces, trends, predict.

`run` executes the benchmark's real DAG with `airflow dags test` (the same code path as a scheduled run),
in an Airflow home inside the project's work folder, then prints where the report is and its headline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from featurebench.layout import run_prefix, safe_run_id
from featurebench.settings import REPO_ROOT, results_root, work_root
from featurebench.spec import SpecError, load_all, load_spec


def airflow_env() -> dict[str, str]:
    """Environment for a private, local Airflow (SQLite, no examples) that loads this project's DAGs."""
    home = work_root() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO_ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        FEATUREBENCH_RESULTS=results_root(),
        FEATUREBENCH_WORK=str(work_root()),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT / "plugins"), env.get("PYTHONPATH")])),
    )
    return env


AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))  # this environment's Airflow CLI


def dags_test_command(benchmark: str, when: dt.datetime, conf: dict) -> list[str]:
    return [AIRFLOW_BIN, "dags", "test", benchmark, when.isoformat(), "-c", json.dumps(conf)]


def dags_test(
    benchmark: str, when: dt.datetime, conf: dict, env: dict[str, str], **kwargs
) -> subprocess.CompletedProcess:
    """One run of the benchmark's real DAG, in process (`airflow dags test`), at logical date `when`.

    The child dies with us (a killed `featurebench run` leaves no run behind), and records itself as the owner
    of the engines it starts, so the janitor reaps them at once if it is killed in turn."""
    return subprocess.run(dags_test_command(benchmark, when, conf), **run_child(env), **kwargs)


def run_child(env: dict[str, str]) -> dict:
    """How `dags test` is started: the run's owner marked in its environment, and it dies with us."""
    from featurebench.settings import IN_PROCESS_RUN_ENV

    return {"env": {**env, IN_PROCESS_RUN_ENV: "1"}, "preexec_fn": _die_with_parent}


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the parent dies (Linux prctl PR_SET_PDEATHSIG). Not SIGTERM:
    `dags test` catches it and carries on measuring; its engines are then reaped as orphans (owner gone)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux/glibc: the janitor still reaps what a killed run leaves


def ensure_airflow_db(env: dict[str, str]) -> None:
    """`airflow db migrate` once per Airflow version (a stamp file avoids 3 s on every run)."""
    from airflow import __version__

    stamp = Path(env["AIRFLOW_HOME"]) / ".migrated"
    if stamp.exists() and stamp.read_text() == __version__:
        return
    subprocess.run([AIRFLOW_BIN, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(__version__)


def cmd_list(_: argparse.Namespace) -> int:
    specs, errors = load_all()
    for sid, f in specs.items():
        s = f.latest.spec
        arms = ", ".join(f"{a.name} ({a.role}, {a.gpus} GPU)" for a in s.arms)
        simulated = "all arms" if all(s.local_arm(a.name).simulated for a in s.arms) else "not the feature's effect"
        print(f"{sid}\n  {s.title}\n  arms: {arms}\n  {s.hardware.gpus} x {s.hardware.gpu}, weekly '{s.schedule.cron}',"
              f" local simulation models: {simulated}")
    for path, message in errors.items():
        print(f"BROKEN {path}\n  {message}", file=sys.stderr)
    return 1 if errors else 0


def run_conf(args: argparse.Namespace) -> dict:
    """The trigger conf of `featurebench run`: only what was given (0 and "" are given, and then refused)."""
    conf = {"platform": args.platform}
    for name in ("trials", "load_points", "image_tag"):
        if getattr(args, name) is not None:
            conf[name] = getattr(args, name)
    if args.dry_run:
        conf["dry_run"] = True
    return conf


def cmd_run(args: argparse.Namespace) -> int:
    from featurebench.errors import ParamError
    from featurebench.spec.params import validate_params

    when = dt.datetime.combine(args.date, dt.time(12, 0), dt.UTC) if args.date else (
        dt.datetime.now(dt.UTC).replace(microsecond=0)
    )
    conf = run_conf(args)
    try:  # every argument checked, with the rules the first task applies, before Airflow starts
        validate_params(load_spec(args.benchmark).resolve(when.date()), conf)
        for name, folder in (("FEATUREBENCH_RESULTS", results_root()), ("FEATUREBENCH_WORK", str(work_root()))):
            if "://" not in folder and Path(folder).exists() and not Path(folder).is_dir():
                raise ParamError(f"{name}={folder!r} is a file, not a folder")
    except (SpecError, ParamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from featurebench.platforms.local import reap_stale

    for line in reap_stale(None):  # engines of earlier runs that were killed: their owner is gone
        print(f"janitor: stopped {line}", file=sys.stderr)
    env = airflow_env()
    ensure_airflow_db(env)
    if args.verbose:  # the whole Airflow log on the terminal, as `airflow dags test` prints it
        returncode = dags_test(args.benchmark, when, conf, env).returncode
        run_id = find_run_id(args.benchmark, when, env)
        failed: list[str] = []
    else:
        returncode, run_id, failed = run_quietly(args.benchmark, when, conf, env)
    if run_id and not failed:
        print_run_summary(run_prefix(args.benchmark, when.date().isoformat(), safe_run_id(run_id)))
    if run_id:
        print(f"\nThis run in the Airflow UI:  {ui_command(args.benchmark, run_id)}")
    return returncode


def run_quietly(benchmark: str, when: dt.datetime, conf: dict, env: dict[str, str]) -> tuple[int, str | None, list[str]]:
    """`airflow dags test` with its log in a file; the terminal gets the live view (featurebench.live) and,
    when the run fails, the failed tasks with their errors first. Returns (exit code, run id, failures)."""
    from featurebench.cli import live

    log_path = work_root() / "logs" / f"{benchmark}-{when.strftime('%Y%m%dT%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    arms = conf.get("arms") or [a.name for a in load_spec(benchmark).latest.spec.arms]
    print(f"{benchmark} on {conf['platform']}: arms {', '.join(arms)}")
    print(f"full Airflow log: {_shown(log_path)}  (--verbose prints it here)", flush=True)
    states = live.RunStates(live.metadata_db_url(env), benchmark)
    known = states.run_ids()
    display = live.Display(sys.stdout, arms, tty=live.is_terminal(sys.stdout))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(dags_test_command(benchmark, when, conf), **run_child(env), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            run_id, rows = live.watch(states, arms, display, lambda: proc.poll() is not None, known)
        finally:
            display.close()
            if proc.poll() is None:  # Ctrl-C: `dags test` gets it too and tears down; wait for it
                proc.wait()
    failures = failure_lines(rows, log_path.read_text(errors="replace"))
    if proc.returncode or failures:
        print(f"\nFAILED: {benchmark} run {run_id or '(no run created)'}")
        print("\n".join(failures or ["no task failed: Airflow itself stopped (the log's last lines say why)"]))
        print(f"full log: {_shown(log_path)}")
    return proc.returncode, run_id, failures


def failure_lines(rows, log_text: str) -> list[str]:
    """`task [trial]: error` for each failed task (upstream_failed ones are only their consequence)."""
    from featurebench.cli import live

    errors = live.task_errors(log_text)
    lines = []
    for r in rows:
        if r.state == "failed":
            error = errors.get((r.task_id, r.map_index), "(no exception text in the log)")
            lines.append(f"  task {r.task_id}" + (f" [{r.label}]" if r.label else "") + ":")
            lines += [f"    {line}" for line in error.splitlines()[:8]]
    return lines


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is inside it (shorter to read and to copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def ui_command(benchmark: str, run_id: str) -> str:
    import shlex

    script = Path(sys.executable).with_name("featurebench")  # the console script (pyproject.toml)
    command = _shown(script) if script.exists() else f"{_shown(Path(sys.executable))} -m featurebench"
    return f"{command} ui {benchmark} --run {shlex.quote(run_id)}"


def cmd_janitor(args: argparse.Namespace) -> int:
    """Stop local engines left by crashed runs: their owner is gone, or they are older than --ttl-hours."""
    from featurebench.platforms.local import reap_stale

    ttl_s = None if args.ttl_hours is None else args.ttl_hours * 3600
    found = reap_stale(ttl_s, dry_run=args.dry_run)
    for line in found:
        print(line)
    verb = "would stop" if args.dry_run else "stopped"
    print(f"{verb} {len(found)} process group(s) under {work_root() / 'runs'}")
    return 0


def find_run_id(benchmark: str, logical_date: dt.datetime, env: dict[str, str]) -> str | None:
    """The Airflow run id of the run with this logical date (`dags test` names runs after the submit time)."""
    out = subprocess.run(
        [AIRFLOW_BIN, "dags", "list-runs", benchmark, "-o", "json"],
        env=env, capture_output=True, text=True,
    ).stdout
    listing = next((line for line in reversed(out.splitlines()) if line.startswith("[")), "[]")
    for run in json.loads(listing):
        if run.get("logical_date") and dt.datetime.fromisoformat(run["logical_date"]) == logical_date:
            return run["run_id"]
    return None


def print_run_summary(prefix: str) -> None:
    from featurebench.results.store import Store

    store = Store.from_uri(results_root())

    def where(key: str) -> str:
        uri = store.uri(key)
        return _shown(Path(uri.removeprefix("file://"))) if uri.startswith("file://") else uri

    if store.exists(f"{prefix}/headline.txt"):
        print("\n" + store.read_bytes(f"{prefix}/headline.txt").decode().rstrip())
    if store.exists(f"{prefix}/report.html"):
        print(f"\nreport:  {where(prefix + '/report.html')}  (report.md beside it)")
    print(f"results: {where(prefix)}")


def cmd_ui(args: argparse.Namespace) -> int:
    """The Airflow UI on the runs of `featurebench run` (same Airflow home), on loopback, until Ctrl-C."""
    import signal
    import time

    from featurebench.cli.airflow_local import (
        USER,
        LocalAirflow,
        free_port,
        import_gpu_pools,
        loopback_env,
        password_file,
    )

    env = airflow_env()
    port = args.port or free_port()
    env = loopback_env(env, port)
    home = Path(env["AIRFLOW_HOME"])
    print(f"preparing the Airflow database in {_shown(home)} (migrations, GPU pools)", flush=True)
    ensure_airflow_db(env)
    import_gpu_pools(env, home)
    secret = password_file(env)
    print(f"starting Airflow on 127.0.0.1:{port} (api-server, scheduler, dag-processor, triggerer; logs in "
          f"{_shown(home / 'components')})", flush=True)
    # Ctrl-C (even when started from a script that ignores SIGINT) and `kill PID` both stop every component
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with LocalAirflow(env, port, home / "components") as airflow:
        airflow.wait_for_dag(args.benchmark)
        page = f"/dags/{args.benchmark}" + (f"/runs/{args.run}" if args.run else "")
        print(f"open {airflow.base_url}{page}\nsign in as {USER}; the password is in {_shown(secret)}\n"
              "Ctrl-C stops Airflow", flush=True)
        try:
            while not airflow.dead():
                time.sleep(2)
            print(f"an Airflow component stopped: {list(airflow.dead())}; see its log", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("stopping Airflow")
    return 0


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r}: hours, 0 or more")
    return value


# Subcommands whose own module parses the arguments: (module, function, help).
DELEGATED = {
    "ingest": ("featurebench.cli.ingest", "ingest_cli", "AIPerf artifact dir -> canonical per-request Parquet"),
    "render": ("featurebench.cli.render", "render_cli", "print every manifest of a run as YAML"),
    "compare": ("featurebench.cli.compare", "compare_cli", "A/B comparison from stored results or AIPerf dirs"),
    "traces": ("featurebench.traces.__main__", "main", "generate a benchmark's traffic files"),
    "trends": ("featurebench.analysis.trends", "trends_cli", "history of a benchmark's metrics (DuckDB)"),
    "predict": ("featurebench.analysis.predict", "predict_cli", "preflight: simulated hardware metrics and verdict per arm"),
}


def _delegate(name: str, argv: list[str]) -> int:
    import importlib

    module, function, _ = DELEGATED[name]
    return getattr(importlib.import_module(module), function)(argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m featurebench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="the benchmarks and their arms").set_defaults(func=cmd_list)

    run = sub.add_parser("run", help="run a benchmark's DAG locally (airflow dags test)")
    run.add_argument("benchmark")
    run.add_argument("--platform", default="local", choices=["local", "kubernetes"])
    run.add_argument("--trials", type=int)
    run.add_argument("--load-points", nargs="+", metavar="POINT", help="replay | cN")
    run.add_argument("--image-tag")
    run.add_argument("--date", type=dt.date.fromisoformat, help="logical date (resolves the spec version in force)")
    run.add_argument("--dry-run", action="store_true", help="resolve and render only")
    run.add_argument("--verbose", action="store_true", help="print the whole Airflow log instead of the live view")
    run.set_defaults(func=cmd_run)

    janitor = sub.add_parser("janitor", help="stop local engines that crashed runs left behind")
    janitor.add_argument("--ttl-hours", type=_non_negative, metavar="H",
                         help="also stop arms older than this (0: every arm); default: only runs whose owner is gone")
    janitor.add_argument("--dry-run", action="store_true", help="only list what would be stopped")
    janitor.set_defaults(func=cmd_janitor)

    ui = sub.add_parser("ui", help="the Airflow UI on the runs of `run` (loopback), until Ctrl-C")
    ui.add_argument("benchmark")
    ui.add_argument("--run", metavar="RUN_ID", help="open this run (its id is printed by `run`)")
    ui.add_argument("--port", type=int, help="default: a free port")
    ui.set_defaults(func=cmd_ui)

    for name, (_, _, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)  # listed in --help; arguments go to the module

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:  # hand every argument, options included, to the module's own parser
        return _delegate(argv[0], argv[1:])
    args = parser.parse_args(argv)
    return args.func(args)
