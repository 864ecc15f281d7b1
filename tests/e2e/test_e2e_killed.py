"""Killed processes in a real local run (`featurebench run`, real Dynamo frontend + mocker + AIPerf), one trial:

- the control's engine killed (kill -9) in the middle of its load: the trial is INVALID, feeds no verdict, and
  the headline says why;
- `featurebench run` itself killed (kill -9): its `airflow dags test` goes with it, and the janitor stops the
  engines the dead run left, at once (their owner is gone), listing them first with --dry-run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from test_e2e_local import processes_mentioning

REPO = Path(__file__).resolve().parents[2]
BENCH = "qwen3-32b-kv-routing"
CONTROL = "agg-round-robin"
REPLAYED = sum(1 for _ in open(REPO / "include" / "traces" / BENCH / "local.jsonl"))  # requests per trial


def _start_run(tmp_path: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "FEATUREBENCH_WORK": str(tmp_path / "work"), "FEATUREBENCH_RESULTS": str(tmp_path / "results"),
           "FEATUREBENCH_PREFLIGHT": "off"}  # the preflight is covered by test_e2e_local and test_e2e_kubernetes
    return subprocess.Popen([sys.executable, "-m", "featurebench", "run", BENCH, "--trials", "1", "--date", "2026-11-02"],
                            cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _control_state(tmp_path: Path, timeout_s: float, ready) -> dict:
    """The control arm's state.json once `ready(state)` holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in (tmp_path / "work" / "runs").glob(f"**/arm={CONTROL}/state.json"):
            try:
                state = json.loads(path.read_text())
            except ValueError:
                continue
            if ready(state):
                return state
        time.sleep(0.5)
    raise AssertionError(f"the control arm did not get there in {timeout_s:.0f} s")


def _requests_served(url: str) -> float:
    """Requests the Dynamo frontend has finished (its Prometheus counter), 0 if it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=2) as resp:
            lines = resp.read().decode().splitlines()
    except OSError:
        return 0
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("dynamo_frontend_requests_total"))


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    return not _alive(pid)


def test_an_engine_killed_mid_load_makes_the_trial_invalid_and_the_headline_says_so(tmp_path):
    log = tmp_path / "run.log"
    proc = _start_run(tmp_path, log)
    try:
        state = _control_state(tmp_path, 900, lambda s: any(_alive(p["pid"]) for p in s.get("load", []))
                               and _requests_served(s["endpoint"]["url"]) >= REPLAYED // 4)
        for p in state["processes"]:
            if p["name"].startswith("mocker"):
                os.killpg(p["pgid"], signal.SIGKILL)
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = log.read_text()
    print(out[-2500:])
    assert not processes_mentioning(str(tmp_path / "work")), "an engine outlived the run"
    (headline,) = (tmp_path / "results").rglob("headline.txt")
    text = headline.read_text()
    assert "NO VERDICT" in text and f"{CONTROL} replay trial 1: errors:" in text and "requests failed" in text, text
    assert text.splitlines()[2] in out, "the CLI prints the headline"
    (comparison,) = (tmp_path / "results").rglob("comparison.parquet")
    import pyarrow.parquet as pq

    table = pq.read_table(comparison).to_pandas()
    assert set(table.method) == {"invalid"} and set(table.verdict) == {"no_change"}


def test_a_killed_cli_takes_its_run_along_and_the_janitor_reaps_the_engines(tmp_path):
    log = tmp_path / "run.log"
    proc = _start_run(tmp_path, log)
    try:
        state = _control_state(tmp_path, 600, lambda s: s.get("processes") and s.get("owner")
                               and all(_alive(p["pid"]) for p in s["processes"]))
        owner = state["owner"]["pid"]
        cmdline = Path(f"/proc/{owner}/cmdline").read_bytes().split(b"\0")
        assert b"dags" in cmdline and b"test" in cmdline, "the owner is the run's `airflow dags test`"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_gone(owner, 120), "`airflow dags test` outlived the killed `featurebench run`"
    finally:
        if proc.poll() is None:
            proc.kill()
    env = {**os.environ, "FEATUREBENCH_WORK": str(tmp_path / "work")}
    janitor = [sys.executable, "-m", "featurebench", "janitor"]
    left = [p for p in state["processes"] if _alive(p["pid"])]
    assert left, "the engines died with the run: nothing left to reap (then this test shows nothing)"
    listed = subprocess.run([*janitor, "--dry-run"], env=env, capture_output=True, text=True, check=True).stdout
    print(listed)
    for p in left:
        assert f"would stop {p['name']} pid={p['pid']}" in listed and f"owner pid {owner} is gone" in listed
    assert all(_alive(p["pid"]) for p in left), "a dry run stopped something"
    stopped = subprocess.run(janitor, env=env, capture_output=True, text=True, check=True).stdout
    print(stopped)
    assert int(re.search(r"stopped (\d+) process group", stopped).group(1)) >= len(left)  # + a running AIPerf
    deadline = time.monotonic() + 15
    while processes_mentioning(str(tmp_path / "work")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_mentioning(str(tmp_path / "work")), "an engine of the killed run is still running"
