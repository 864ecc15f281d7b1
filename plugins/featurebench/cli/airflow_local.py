"""A real Airflow on loopback: api-server, scheduler, dag-processor and triggerer as processes of this machine.

Used by `featurebench ui` (the Airflow UI on the runs of `featurebench run`) and by the tests that need the
real components (backfill through the scheduler, the browser test). Everything binds 127.0.0.1; each
component runs in its own process group, so stopping it by its PID also ends the workers it forked.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))
USER = "admin"  # the simple auth manager's default user ([core] simple_auth_manager_users = admin:admin)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# SQLite has one writer at a time; its default 5 s busy timeout let `airflow backfill create` fail with "database
# is locked" against the scheduler on a loaded machine. Airflow imports this dict (sql_alchemy_connect_args).
SQLITE_CONNECT_ARGS = {"timeout": 60}


def loopback_env(base: dict[str, str], port: int) -> dict[str, str]:
    """`base` (an environment with AIRFLOW_HOME and the project's folders) plus what makes every component
    listen on 127.0.0.1:`port` only and talk to each other there."""
    env = dict(base)
    env.update(
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",  # with SQLite: allowed in Airflow 3 (no check refuses it)
        AIRFLOW__CORE__PARALLELISM="4",  # LocalExecutor forks this many workers up front; 2 shared cores
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API__HOST="127.0.0.1", AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__API_AUTH__JWT_SECRET=env.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_hex(32),
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",  # its server would bind 0.0.0.0:8974
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="600",  # one dags folder, parsed at start; no re-listing churn
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="600",
        AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="featurebench.cli.airflow_local.SQLITE_CONNECT_ARGS",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC="featurebench.cli.airflow_local.SQLITE_CONNECT_ARGS",
    )
    return env


def password_file(env: dict[str, str]) -> Path:
    """The simple auth manager's password file; created with a random password for USER when missing."""
    path = Path(env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
                or Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({USER: secrets.token_urlsafe(12)}, f)
    return path


COMPONENTS = {
    "api-server": lambda port: ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
    # --skip-serve-logs: the log server binds 0.0.0.0:8793 (utils/serve_logs/core.py host=""), with no host
    # option; the api-server reads task logs from AIRFLOW_HOME/logs on this machine anyway.
    "scheduler": lambda port: ["scheduler", "--skip-serve-logs"],
    "dag-processor": lambda port: ["dag-processor"],
    "triggerer": lambda port: ["triggerer", "--skip-serve-logs"],
}


class LocalAirflow:
    """Start with `start()` (or `with`), stop with `stop()`: SIGTERM by PID, then SIGKILL to what is left of
    each component's process group."""

    def __init__(self, env: dict[str, str], port: int, logs: Path, components: tuple[str, ...] = tuple(COMPONENTS)):
        self.env, self.port, self.logs, self.components = env, port, Path(logs), components
        self.procs: dict[str, subprocess.Popen] = {}
        self.base_url = f"http://127.0.0.1:{port}"
        self.token: str | None = None

    def start(self) -> LocalAirflow:
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in self.components:
            with open(self.logs / f"{name}.log", "wb") as out:
                self.procs[name] = subprocess.Popen(
                    [AIRFLOW_BIN, *COMPONENTS[name](self.port)], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
        return self

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def dead(self) -> dict[str, str]:
        """Components that exited, with the end of their logs."""
        return {name: (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                for name, p in self.procs.items() if p.poll() is not None}

    def get(self, path: str) -> dict:
        """GET on the REST API, signed in as USER (unless the simple auth manager makes everyone admin)."""
        headers = {"Authorization": f"Bearer {self._token()}"} if self._token() else {}
        request = urllib.request.Request(self.base_url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())

    def _token(self) -> str | None:
        if self.env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() == "true":
            return None
        if self.token is None:
            password = json.loads(password_file(self.env).read_text())[USER]
            request = urllib.request.Request(
                f"{self.base_url}/auth/token", data=json.dumps({"username": USER, "password": password}).encode(),
                headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=30) as resp:
                self.token = json.loads(resp.read())["access_token"]
        return self.token

    def wait_for_dag(self, dag_id: str, timeout: float = 240) -> dict:
        """Until the API answers and the dag-processor has put `dag_id` in the database; returns the DAG."""
        end = time.monotonic() + timeout
        while True:
            if dead := self.dead():
                raise RuntimeError(f"Airflow component(s) exited: {dead}")
            try:
                return self.get(f"/api/v2/dags/{dag_id}")
            except (OSError, KeyError, ValueError):  # not up yet, or the DAG not parsed yet (404)
                pass
            if time.monotonic() > end:
                raise TimeoutError(f"Airflow API or DAG {dag_id} not ready after {timeout:.0f}s (logs: {self.logs})")
            time.sleep(2)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def stop(self, grace: float = 20.0) -> None:
        for popen in self.procs.values():
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace
        for popen in self.procs.values():
            try:
                popen.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for popen in self.procs.values():
            try:
                os.killpg(popen.pid, signal.SIGKILL)  # start_new_session: the group id is the component's PID
            except (ProcessLookupError, PermissionError):
                pass
            try:
                popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def import_gpu_pools(env: dict[str, str], scratch: Path) -> None:
    """The GPU pools the arm tasks name (gpu_<pool>), as a deployment has them; a fresh DB has only default_pool."""
    pools = scratch / "pools.json"
    subprocess.run([sys.executable, "-m", "featurebench.platforms.kubernetes", "pools-json", "--out", str(pools)],
                   env=env, check=True, capture_output=True)
    subprocess.run([AIRFLOW_BIN, "pools", "import", str(pools)], env=env, check=True, capture_output=True)
