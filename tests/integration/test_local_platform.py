"""The local platform with real processes: Dynamo frontend + mocker workers, real AIPerf, real teardown.

Each test provisions from the qwen3-32b-kv-routing spec with a short closed-loop load (a handful of requests
from its real local trace) so the suite stays under a couple of minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from featurebench.platforms import get_platform
from featurebench.platforms.local import (
    LocalPlatform,
    LocalPlatformError,
    aiperf_bin,
    dynamo_python,
    reap_stale,
)
from featurebench.run import RunContext
from featurebench.settings import work_root
from featurebench.spec import Load, LocalArm, LocalWorkers, Warmup, load_spec

pytestmark = pytest.mark.skipif(
    not (os.access(dynamo_python(), os.X_OK) and os.access(aiperf_bin(), os.X_OK)),
    reason="needs the .venvs/dynamo and .venvs/aiperf environments (scripts/setup.sh)",
)

REQUESTS = 6


SECRETS = {"AWS_SECRET_ACCESS_KEY": "aws-SENTINEL-child", "HF_TOKEN": "hf_SENTINEL_child"}


@pytest.fixture()
def work(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATUREBENCH_WORK", str(tmp_path))
    for name, value in SECRETS.items():  # Airflow's environment has credentials; the engine and AIPerf must not
        monkeypatch.setenv(name, value)
    # the real AIPerf, behind a wrapper that records the environment it was given
    wrapper = tmp_path / "aiperf-env-wrapper"
    wrapper.write_text(f"#!/bin/sh\nenv > {tmp_path}/aiperf.env\nexec {aiperf_bin()} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("FEATUREBENCH_AIPERF_BIN", str(wrapper))
    return tmp_path


def assert_no_secret_inherited(environ: bytes, who: str):
    for name, value in SECRETS.items():
        assert name.encode() not in environ and value.encode() not in environ, f"{who} inherited {name}"


def short_spec(**arms: LocalArm):
    """The real spec, with a short closed-loop load (c2, 6 requests + 2 warmup) and optional arm overrides."""
    resolved = load_spec("qwen3-32b-kv-routing").latest
    spec = resolved.spec
    local = spec.local.model_copy(update={
        "load": Load(mode="concurrency", concurrency=[2], request_count=REQUESTS,
                     extra_inputs={"ignore_eos": True}, request_timeout_s=60),
        "warmup": Warmup(requests=2, concurrency=1),
        "arms": {**spec.local.arms, **arms},
    })
    return resolved.model_copy(update={"spec": spec.model_copy(update={"local": local})})


def make_run(name: str, arms: list[str]) -> RunContext:
    return RunContext(benchmark="qwen3-32b-kv-routing", run_id=name, date="2026-11-26", platform="local",
                      arms=arms, points={a: ["c2"] for a in arms}, trials=1, spec_version="test",
                      spec_sha256="0" * 64, image_tag="1.3.1", gpu_type="sim", results_root="unused")


def pid_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    # only zombies left?
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return False
    return True


def listening_addresses(pids: list[int]) -> set[str]:
    """host:port of every TCP socket in LISTEN state that one of `pids` holds (from /proc, IPv4 and IPv6)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                host, port = fields[1].split(":")
                raw = bytes.fromhex(host)
                words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]  # each 32-bit word is little-endian
                found.add(f"{socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, b''.join(words))}"
                          f":{int(port, 16)}")
    return found


def assert_loopback_only(procs: list[dict]) -> None:
    listening = listening_addresses([p["pid"] for p in procs])
    assert listening, "the arm listens somewhere (its HTTP port at least)"
    public = sorted(a for a in listening if not a.startswith(("127.", "::1:")))
    assert not public, f"an engine process listens beyond loopback: {public}"


def recorded(platform: LocalPlatform, run: RunContext, arm: str) -> list[dict]:
    return json.loads((platform.arm_dir(run, arm) / "state.json").read_text())["processes"]


def run_arm_once(arm: str, run_name: str) -> tuple[LocalPlatform, RunContext, list[dict], Path]:
    resolved = short_spec()
    platform = get_platform("local")
    run = make_run(run_name, [arm])
    endpoint = platform.provision(run, resolved, arm)
    procs = recorded(platform, run, arm)
    try:
        assert endpoint["url"].startswith("http://127.0.0.1:")
        assert all(p["pgid"] == p["pid"] != os.getpgid(0) for p in procs)  # own sessions: outlive the task
        assert platform.provision(run, resolved, arm) == endpoint  # a retry finds what it made
        assert recorded(platform, run, arm) == procs  # ... and started nothing new
        platform.wait_ready(run, resolved, arm, endpoint)
        assert_loopback_only(procs)
        for p in procs:
            assert_no_secret_inherited(Path(f"/proc/{p['pid']}/environ").read_bytes(), p["name"])
        artifacts = platform.run_load(run, resolved, arm, endpoint, "c2", 0)
        assert_no_secret_inherited((work_root() / "aiperf.env").read_bytes(), "AIPerf")
        assert artifacts == platform.arm_dir(run, arm) / "point=c2" / "trial=0" / "aiperf"
        ready = json.loads((artifacts / ".aiperf_results_ready.json").read_text())
        assert ready["ready"] and not ready["was_cancelled"] and not ready["partial"]
        records = [json.loads(line) for line in (artifacts / "profile_export.jsonl").open()]
        profiling = [r for r in records if r["metadata"]["benchmark_phase"] == "profiling"]
        assert len(profiling) == REQUESTS
        assert all("error" not in r and r["metrics"]["output_sequence_length"]["value"] > 0 for r in profiling)
        # a retry after a storage error stores the finished trial again: the load is not repeated
        loads = len(json.loads((platform.arm_dir(run, arm) / "state.json").read_text())["load"])
        assert platform.run_load(run, resolved, arm, endpoint, "c2", 0) == artifacts
        assert len(json.loads((platform.arm_dir(run, arm) / "state.json").read_text())["load"]) == loads
        # a retry after a failed load starts from a clean folder
        (artifacts.parent / "load-done.json").unlink()
        (artifacts / "stale.txt").write_text("x")
        again = platform.run_load(run, resolved, arm, endpoint, "c2", 0)
        assert not (again / "stale.txt").exists()
    finally:
        stopped = platform.teardown(run, arm)
    return platform, run, procs, stopped


def assert_all_gone(procs: list[dict]):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(pid_gone(p["pid"]) and group_gone(p["pgid"]) for p in procs):
        time.sleep(0.1)
    for p in procs:
        assert pid_gone(p["pid"]), f"{p['name']} pid {p['pid']} survived teardown"
        assert group_gone(p["pgid"]), f"{p['name']} group {p['pgid']} survived teardown"


def test_aggregated_arm(work):
    platform, run, procs, stopped = run_arm_once("agg-round-robin", "agg")
    assert [p["name"] for p in procs] == ["zmq-broker", "mocker-agg-0", "frontend"]
    assert len(stopped) == 3
    assert_all_gone(procs)
    assert platform.teardown(run, "agg-round-robin") == []  # idempotent
    log = (platform.arm_dir(run, "agg-round-robin") / "logs" / "frontend.log").read_text()
    assert "round_robin" in log.lower() or "round-robin" in log.lower()


def test_disaggregated_arm_uses_the_prefill_pool(work):
    platform, run, procs, stopped = run_arm_once("disagg-kv-router", "disagg")
    assert [p["name"] for p in procs] == ["zmq-broker", "mocker-prefill-0", "mocker-decode-1", "frontend"]
    assert_all_gone(procs)
    assert platform.teardown(run, "disagg-kv-router") == []
    log = (platform.arm_dir(run, "disagg-kv-router") / "logs" / "frontend.log").read_text()
    assert "Activating prefill router" in log
    # every pool runs on the arm's simulator identity (AIConfigurator's H200 timing), never the polynomial silently
    for name, role in (("mocker-prefill-0", "is_prefill"), ("mocker-decode-1", "is_decode")):
        engine = json.loads((platform.arm_dir(run, "disagg-kv-router") / f"{name}.engine.json").read_text())
        assert engine["aic_system"] == "h200_sxm" and engine["aic_model_path"] == "Qwen/Qwen3-32B" and engine[role]
        assert "AIC" in (platform.arm_dir(run, "disagg-kv-router") / "logs" / f"{name}.log").read_text()
    assert "worker_type\x1b[0m\x1b[2m=\x1b[0mprefill" in log or "worker_type=prefill" in log  # KV-routed prefills


def test_teardown_without_provision_is_safe(work):
    assert LocalPlatform().teardown(make_run("nothing", ["agg-round-robin"]), "agg-round-robin") == []


def test_crashed_mocker_is_reported(work):
    resolved = short_spec()
    platform, run, arm = LocalPlatform(ready_timeout_s=60), make_run("crash", ["agg-round-robin"]), "agg-round-robin"
    endpoint = platform.provision(run, resolved, arm)
    procs = recorded(platform, run, arm)
    try:
        platform.wait_ready(run, resolved, arm, endpoint)
        mocker = next(p for p in procs if p["name"].startswith("mocker"))
        os.kill(mocker["pid"], signal.SIGKILL)
        with pytest.raises(LocalPlatformError, match=r"mocker-agg-0 \(pid \d+\) exited"):
            platform.wait_ready(run, resolved, arm, endpoint)
    finally:
        platform.teardown(run, arm)
    assert_all_gone(procs)


def test_mocker_that_cannot_start_is_reported_with_its_log(work):
    broken = LocalArm(workers=[LocalWorkers(role="agg", count=1, mocker_args=["--no-such-flag"])])
    resolved = short_spec(**{"agg-round-robin": broken})
    platform, run, arm = LocalPlatform(ready_timeout_s=60), make_run("broken", ["agg-round-robin"]), "agg-round-robin"
    endpoint = platform.provision(run, resolved, arm)
    procs = recorded(platform, run, arm)
    try:
        with pytest.raises(LocalPlatformError, match="(?s)mocker-agg-0.*exited.*--no-such-flag"):
            platform.wait_ready(run, resolved, arm, endpoint)
    finally:
        platform.teardown(run, arm)
    assert_all_gone(procs)


def test_janitor_reaps_stale_arms(work):
    resolved = short_spec()
    platform, run, arm = LocalPlatform(), make_run("stale", ["agg-round-robin"]), "agg-round-robin"
    platform.provision(run, resolved, arm)
    procs = recorded(platform, run, arm)
    try:
        assert reap_stale(older_than_s=3600) == []  # too young: untouched
        assert not any(pid_gone(p["pid"]) for p in procs)
        listed = reap_stale(older_than_s=0, dry_run=True)  # ttl 0: everything; a dry run only lists it
        assert len(listed) == 3 and all("would stop" in line for line in listed)
        assert not any(pid_gone(p["pid"]) for p in procs)
        stopped = reap_stale(older_than_s=0)
        assert len(stopped) == 3
    finally:
        platform.teardown(run, arm)
    assert_all_gone(procs)
