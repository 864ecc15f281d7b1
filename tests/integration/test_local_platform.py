"""The local platform with real processes: Dynamo frontend + mocker workers, real AIPerf, real teardown.

Each test provisions from the qwen3-32b-kv-routing spec with a short closed-loop load (a handful of requests
from its real local trace) so the suite stays under a couple of minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
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
from featurebench.spec import Load, LocalArm, LocalWorkers, Warmup, load_spec

pytestmark = pytest.mark.skipif(
    not (os.access(dynamo_python(), os.X_OK) and os.access(aiperf_bin(), os.X_OK)),
    reason="needs the .venvs/dynamo and .venvs/aiperf environments (scripts/setup.sh)",
)

REQUESTS = 6


@pytest.fixture()
def work(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATUREBENCH_WORK", str(tmp_path))
    return tmp_path


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
        artifacts = platform.run_load(run, resolved, arm, endpoint, "c2", 0)
        assert artifacts == platform.arm_dir(run, arm) / "point=c2" / "trial=0" / "aiperf"
        ready = json.loads((artifacts / ".aiperf_results_ready.json").read_text())
        assert ready["ready"] and not ready["was_cancelled"] and not ready["partial"]
        records = [json.loads(line) for line in (artifacts / "profile_export.jsonl").open()]
        profiling = [r for r in records if r["metadata"]["benchmark_phase"] == "profiling"]
        assert len(profiling) == REQUESTS
        assert all("error" not in r and r["metrics"]["output_sequence_length"]["value"] > 0 for r in profiling)
        # a retried load task starts from a clean folder
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
    assert [p["name"] for p in procs] == ["mocker-agg-0", "frontend"]
    assert len(stopped) == 2
    assert_all_gone(procs)
    assert platform.teardown(run, "agg-round-robin") == []  # idempotent
    log = (platform.arm_dir(run, "agg-round-robin") / "logs" / "frontend.log").read_text()
    assert "round_robin" in log.lower() or "round-robin" in log.lower()


def test_disaggregated_arm_uses_the_prefill_pool(work):
    platform, run, procs, stopped = run_arm_once("disagg-kv-router", "disagg")
    assert [p["name"] for p in procs] == ["mocker-prefill-0", "mocker-decode-1", "frontend"]
    assert_all_gone(procs)
    assert platform.teardown(run, "disagg-kv-router") == []
    log = (platform.arm_dir(run, "disagg-kv-router") / "logs" / "frontend.log").read_text()
    assert "Activating prefill router" in log
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
        stopped = reap_stale(older_than_s=0)
        assert len(stopped) == 2
    finally:
        platform.teardown(run, arm)
    assert_all_gone(procs)
