"""Process supervision for the local platform (Linux /proc): start a process in its own session, record it
(pid, process group, start time), tell whether that very process still runs, and stop its whole group.

The start time is part of every check, so a pid the kernel has reused for someone else's process is never hit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

# What the engine and AIPerf inherit from ours; everything else (AWS_SECRET_ACCESS_KEY, HF_TOKEN, Airflow's
# connections, ...) stays with Airflow. Neither needs a credential: the model is local, the store is ours.
_INHERITED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def child_env(extra: dict[str, str], prefix: str) -> dict[str, str]:
    """A child process's whole environment: the basics, the tool's own settings (variables starting with
    `prefix`, e.g. DYN_LOG), then `extra`."""
    env = {k: v for k, v in os.environ.items() if k in _INHERITED or k.startswith(prefix)}
    env.update(extra)
    return env


def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, pgid, session id, start time in clock ticks) of a live process, None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may contain spaces: cut after ')'
    return fields[0], int(fields[2]), int(fields[3]), int(fields[19])


def alive(proc: dict) -> bool:
    """The recorded process still runs (not a zombie) and is the same process (same start time)."""
    stat = proc_stat(proc["pid"])
    return stat is not None and stat[0] not in ("Z", "X") and stat[3] == proc["start_ticks"]


def group_members(proc: dict) -> list[int]:
    """Live pids of the recorded process group: same pgid and session (we made the session), started no
    earlier than the recorded leader, so a recycled id that is not ours does not match."""
    pgid = proc["pgid"]
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat and stat[0] not in ("Z", "X") and stat[1] == pgid and stat[2] == pgid and stat[3] >= proc["start_ticks"]:
            members.append(int(entry.name))
    return members


def start_process(cmd: list[str], env: dict, log: Path, name: str) -> dict:
    """Start `cmd` in a new session (so it outlives this task), output to `log`; its record for the state file."""
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    stat = proc_stat(popen.pid)
    popen.returncode = 0  # we never wait() on it from here (the process outlives this task); silence the warning
    return {"name": name, "pid": popen.pid, "pgid": popen.pid, "start_ticks": stat[3] if stat else -1,
            "cmd": cmd, "log": str(log)}


def stop_processes(procs: list[dict], grace_s: float = 10.0) -> list[str]:
    """SIGTERM the recorded process groups, wait, SIGKILL leftovers. Returns what was stopped."""
    stopped = []
    targets = {p["pgid"]: p for p in procs if group_members(p)}
    for pgid, p in targets.items():
        for pid in group_members(p):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        stopped.append(f"{p['name']} pid={p['pid']} pgid={pgid}")
    deadline = time.monotonic() + grace_s
    while targets and time.monotonic() < deadline:
        targets = {g: p for g, p in targets.items() if group_members(p)}
        time.sleep(0.2)
    for p in targets.values():
        for pid in group_members(p):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in targets.values():  # reap confirmation: SIGKILL cannot be ignored, give the kernel a moment
        for _ in range(50):
            if not group_members(p):
                break
            time.sleep(0.1)
    return stopped


def reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie (no-op for a non-child)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log, for an error message."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])
