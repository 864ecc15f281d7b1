"""The local simulated platform: the real Dynamo frontend + `dynamo.mocker` workers as processes, real AIPerf.

Each arm gets a private folder <run.work_dir>/arm=<name>/ holding a fresh file-discovery store, a HOME for
the engine processes, their logs, and state.json (pids, process-group ids, start times, port). Processes are
started in their own session so they outlive the Airflow task that provisioned them; teardown (or the
janitor) kills exactly the recorded process groups, checked against the recorded start time so a reused pid is
never hit. Everything binds or is told to bind loopback (shared/reference/dynamo-local.md has the pitfalls:
Dynamo 1.3.1 wants the interface name `lo` for its response stream, and `--model-name` breaks registration);
the event plane goes through a loopback ZMQ forwarder (zmq_broker.py), as Dynamo's direct mode binds 0.0.0.0.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote

from featurebench import settings
from featurebench.errors import LocalPlatformError
from featurebench.platforms import zmq_broker
from featurebench.platforms.local_processes import (
    alive,
    child_env,
    group_members,
    log_tail,
    proc_stat,
    reap,
    start_process,
    stop_processes,
)
from featurebench.run import RunContext
from featurebench.settings import work_root
from featurebench.spec import ResolvedSpec

STATE = "state.json"
LOAD_DONE = "load-done.json"  # in a trial folder: AIPerf finished and its artifacts are final
COMMON = ["--discovery-backend", "file", "--request-plane", "tcp", "--event-plane", "zmq"]


dynamo_python = settings.dynamo_python
aiperf_bin = settings.aiperf_bin


def local_engine_args(spec, arm: str, pool) -> dict:
    """MockEngineArgs JSON of one local worker pool: the local profile's (scaled-down) KV cache and speed-up, the
    pool's mocker_args, and the arm's simulator identity (AIConfigurator timing unless the spec says polynomial)."""
    from featurebench.spec import simulator

    lp = spec.local
    flags, _, _ = simulator.mocker_flags_to_json(pool.mocker_args, simulator.timing_of(spec))
    extra = ({"max_num_seqs": lp.max_num_seqs} if lp.max_num_seqs else {}) | flags
    return simulator.engine_args(spec, arm, pool.role, block_size=lp.block_size, num_gpu_blocks=lp.num_gpu_blocks,
                                 speedup_ratio=lp.speedup_ratio, extra=extra)


# ---------------------------------------------------------------- the arm's port and state file


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_state(arm_dir: Path) -> dict | None:
    try:
        return json.loads((arm_dir / STATE).read_text())
    except (OSError, ValueError):
        return None


def _write_state(arm_dir: Path, state: dict) -> None:
    tmp = arm_dir / f".{STATE}.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, arm_dir / STATE)


# ---------------------------------------------------------------- the platform


class LocalPlatform:
    name = "local"

    def __init__(self, ready_timeout_s: float | None = None):
        self.ready_timeout_s = ready_timeout_s

    @staticmethod
    def arm_dir(run: RunContext, arm: str) -> Path:
        return run.work_dir / f"arm={arm}"

    # -- provision

    def provision(self, run: RunContext, resolved: ResolvedSpec, arm: str) -> dict:
        from featurebench.platforms.modelgen import ensure_tiny_model

        spec = resolved.spec
        local = spec.local_arm(arm)
        arm_dir = self.arm_dir(run, arm)
        state = _read_state(arm_dir)
        if state and state["processes"] and all(alive(p) for p in state["processes"]):
            return state["endpoint"]  # a retried task finds what it made
        self.teardown(run, arm)  # half-started or dead leftovers of an earlier attempt

        model = ensure_tiny_model(work_root() / "models")
        arm_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("kvstore", "home"):  # fresh discovery state every time: stale entries confuse the router
            shutil.rmtree(arm_dir / sub, ignore_errors=True)
            (arm_dir / sub).mkdir()
        logs = arm_dir / "logs"
        logs.mkdir(exist_ok=True)
        broker_ports = (_free_port(), _free_port())
        env = child_env({
            "DYN_FILE_KV": str(arm_dir / "kvstore"),
            "DYN_DISCOVERY_BACKEND": "file",
            "DYN_TCP_RPC_HOST": "127.0.0.1",
            "DYN_TCP_RESPONSE_STREAM_HOST": "lo",  # 1.3.1: an interface name; an IP fails registration
            "DYN_ZMQ_BROKER_URL": zmq_broker.broker_url(*broker_ports),  # else each publisher binds 0.0.0.0
            "DYN_SYSTEM_HOST": "127.0.0.1",
            "HOME": str(arm_dir / "home"),  # the frontend caches model cards under $HOME
            "HF_HUB_OFFLINE": "1",
            "HF_HOME": str(arm_dir / "home" / "hf"),
            "TRANSFORMERS_OFFLINE": "1",
        }, prefix="DYN_")
        router_mode = spec.router_mode(arm, "local")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        endpoint = {"url": url, "model": model.served_id, "tokenizer": model.name, "hf_home": str(model.hf_home),
                    "router_mode": router_mode, "arm_dir": str(arm_dir),
                    "workers": {w.role: w.count for w in local.workers}}
        state = {"run_id": run.run_id, "arm": arm, "created": time.time(), "endpoint": endpoint, "processes": [],
                 "owner": run_owner()}
        _write_state(arm_dir, state)

        from featurebench.spec import simulator

        py = dynamo_python()
        broker = [py, zmq_broker.__file__, *map(str, broker_ports)]
        state["processes"].append(start_process(broker, env, logs / "zmq-broker.log", "zmq-broker"))
        for i, pool in enumerate(local.workers):
            name = f"mocker-{pool.role}-{i}"
            engine = arm_dir / f"{name}.engine.json"  # the engine flags and the arm's simulator identity
            engine.write_text(json.dumps(local_engine_args(spec, arm, pool), indent=1))
            cmd = [py, "-m", "dynamo.mocker", "--model-path", str(model.model_dir),  # the tokenizer; not the timing
                   "--num-workers", str(pool.count), "--disaggregation-mode", pool.role,
                   "--extra-engine-args", str(engine), *COMMON]
            if spec.simulator:  # else the mocker computes it from the tiny model's config
                cmd += ["--kv-bytes-per-token", str(spec.simulator.kv_bytes_per_token)]
            cmd += simulator.mocker_flags_to_json(pool.mocker_args, simulator.timing_of(spec))[1]  # launch flags
            state["processes"].append(start_process(cmd, env, logs / f"{name}.log", name))
            _write_state(arm_dir, state)  # recorded at once: a failure below still leaves it findable
        cmd = [py, "-m", "dynamo.frontend", "--http-host", "127.0.0.1", "--http-port", str(port),
               "--router-mode", router_mode, "--kv-cache-block-size", str(spec.local.block_size), *COMMON]
        state["processes"].append(start_process(cmd, env, logs / "frontend.log", "frontend"))
        _write_state(arm_dir, state)
        return endpoint

    # -- readiness

    def _dead(self, state: dict) -> str | None:
        dead = [p for p in state["processes"] if not alive(p)]
        if not dead:
            return None
        return "\n".join(f"{p['name']} (pid {p['pid']}) exited; log tail:\n{log_tail(Path(p['log']))}" for p in dead)

    def wait_ready(self, run: RunContext, resolved: ResolvedSpec, arm: str, endpoint: dict) -> dict:
        """Ready = the model is listed, every mocker worker has registered in the discovery store, and one
        tiny streamed chat request completes end to end (through the prefill pool too, for disagg)."""
        arm_dir = Path(endpoint["arm_dir"])
        state = _read_state(arm_dir)
        if not state:
            raise LocalPlatformError(f"arm {arm}: no {STATE} in {arm_dir}; was it provisioned?")
        timeout = self.ready_timeout_s or min(resolved.spec.ready_timeout_s, 180)
        pools = endpoint["workers"]  # role -> count; agg and decode workers serve dynamo/backend/generate
        expected = {"backend": pools.get("agg", 0) + pools.get("decode", 0), "prefill": pools.get("prefill", 0)}
        deadline, why = time.monotonic() + timeout, "not checked yet"
        while time.monotonic() < deadline:
            dead = self._dead(state)
            if dead:
                raise LocalPlatformError(f"arm {arm}: an engine process died before ready:\n{dead}")
            why = self._check(endpoint, arm_dir, expected)
            if why is None:
                return endpoint
            time.sleep(0.5)
        tails = "\n".join(f"--- {p['name']} ---\n{log_tail(Path(p['log']), 15)}" for p in state["processes"])
        raise LocalPlatformError(f"arm {arm}: not ready after {timeout:.0f} s ({why}).\n{tails}")

    @staticmethod
    def _check(endpoint: dict, arm_dir: Path, expected_workers: dict) -> str | None:
        url, model = endpoint["url"], endpoint["model"]
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=5) as resp:
                listed = [m["id"] for m in json.load(resp).get("data", [])]
        except (OSError, ValueError) as exc:
            return f"/v1/models not answering: {exc}"
        if model not in listed:
            return f"/v1/models lists {listed}, not {model}"
        registered = _registered_workers(arm_dir / "kvstore")
        if any(registered[k] < n for k, n in expected_workers.items()):
            return f"worker instances registered: {registered}, expected {expected_workers}"
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "ready"}], "max_tokens": 2,
                           "stream": True}).encode()
        req = urllib.request.Request(f"{url}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode(errors="replace")
        except (OSError, ValueError) as exc:
            return f"test request failed: {exc}"
        if "[DONE]" not in text:
            return f"test request did not finish: {text[-300:]}"
        return None

    # -- load

    def run_load(
        self, run: RunContext, resolved: ResolvedSpec, arm: str, endpoint: dict, point: str, trial: int
    ) -> Path:
        from featurebench.loadgen.aiperf import aiperf_command, aiperf_env, load_settings

        arm_dir = Path(endpoint["arm_dir"])
        traffic, load, _ = load_settings(resolved, "local")
        input_file = None
        if traffic.kind == "trace":
            from featurebench.traces import ensure_trace

            input_file = str(ensure_trace(traffic))
        trial_dir = arm_dir / f"point={point}" / f"trial={trial}"
        done = trial_dir / LOAD_DONE
        if done.exists() and json.loads(done.read_text()).get("url") == endpoint["url"]:
            # an earlier attempt measured this trial on this very deployment and only storing it failed (a storage
            # error): store those artifacts again rather than repeat the whole load
            return trial_dir / "aiperf"
        shutil.rmtree(trial_dir, ignore_errors=True)  # a retry of a failed load starts clean: no mixed artifacts
        artifacts = trial_dir / "aiperf"
        artifacts.mkdir(parents=True)
        cmd = aiperf_command(resolved, arm, point, trial, url=endpoint["url"], model=endpoint["model"],
                             tokenizer=endpoint["tokenizer"], artifact_dir=str(artifacts), input_file=input_file,
                             platform="local", aiperf_bin=aiperf_bin())
        # One AIPerf cache for every run: its dataset cache is keyed by trace bytes, tokenizer and seed, so only the
        # first run synthesises each trial's prompts (~10-15 s of idle deployment per trial on 2 cores)
        env = child_env(aiperf_env(hf_home=endpoint["hf_home"], cache_dir=work_root() / "aiperf-cache"), "AIPERF_")
        log = trial_dir / "aiperf.log"
        proc = start_process(cmd, env, log, f"aiperf-{point}-{trial}")
        state = _read_state(arm_dir) or {"processes": []}
        state.setdefault("load", []).append(proc)  # so teardown/janitor can stop a run orphaned by a killed task
        _write_state(arm_dir, state)
        # generous bound: the request timeout plus AIPerf's own start-up and a long replay
        limit = load.request_timeout_s + settings.local_load_timeout_s()
        started = time.monotonic()
        try:
            while alive(proc):
                if time.monotonic() - started > limit:
                    raise LocalPlatformError(f"AIPerf ran longer than {limit:.0f} s; log tail:\n{log_tail(log)}")
                time.sleep(0.5)
        finally:
            stop_processes([proc], grace_s=5)  # no-op when it exited by itself
            reap(proc["pid"])
        self._check_artifacts(artifacts, log, state)
        done.write_text(json.dumps({"url": endpoint["url"], "finished": time.time()}))
        return artifacts

    def _check_artifacts(self, artifacts: Path, log: Path, state: dict) -> Path:
        marker = artifacts / ".aiperf_results_ready.json"
        problem = None
        if not marker.exists():
            problem = "AIPerf wrote no .aiperf_results_ready.json"
        else:
            ready = json.loads(marker.read_text())
            if not ready.get("ready") or ready.get("was_cancelled") or ready.get("partial"):
                problem = f"AIPerf results are not final: {ready}"
            elif not (artifacts / "profile_export.jsonl").exists():
                problem = "AIPerf wrote no profile_export.jsonl"
        if problem is None:
            return artifacts
        dead = self._dead(state) if state.get("processes") else None
        detail = log_tail(artifacts / "logs" / "aiperf.log") if (artifacts / "logs" / "aiperf.log").exists() else ""
        raise LocalPlatformError(
            f"{problem}.\n--- AIPerf output ---\n{log_tail(log)}\n{detail}" + (f"\n--- engine ---\n{dead}" if dead else "")
        )

    # -- teardown

    def teardown(self, run: RunContext, arm: str) -> list[str]:
        return teardown_arm_dir(self.arm_dir(run, arm))


def _registered_workers(kvstore: Path) -> dict[str, int]:
    """Workers registered in the file discovery store, per component: one instance file per worker under
    v1/instances named (URL-quoted) dynamo/<component>/generate/<instance id>."""
    counts = {"backend": 0, "prefill": 0}
    instances = kvstore / "v1" / "instances"
    for f in instances.iterdir() if instances.is_dir() else []:
        parts = unquote(f.name).split("/")
        if len(parts) == 4 and parts[2] == "generate" and parts[1] in counts:
            counts[parts[1]] += 1
    return counts


def teardown_arm_dir(arm_dir: Path) -> list[str]:
    """Stop every process recorded in an arm folder's state file; safe when there is none."""
    state = _read_state(arm_dir)
    if not state:
        return []
    procs = state.get("load", []) + state.get("processes", [])
    stopped = stop_processes(procs)
    for p in procs:
        reap(p["pid"])
    state["stopped_at"] = time.time()
    state["processes"], state["load"] = [], []
    state["stopped"] = state.get("stopped", []) + stopped
    _write_state(arm_dir, state)
    return stopped


def run_owner() -> dict | None:
    """The process whose life is the run's (pid + start time, so a reused pid is not mistaken for it)."""
    if not settings.in_process_run():
        return None
    stat = proc_stat(os.getpid())
    return {"pid": os.getpid(), "start_ticks": stat[3] if stat else -1}


def reap_stale(older_than_s: float | None, root: Path | None = None, dry_run: bool = False) -> list[str]:
    """Janitor: stop the processes of every local arm whose run crashed before its teardown: its recorded owner
    process is gone (whatever the age), or its state file is older than `older_than_s` (None: owner check only).
    Only recorded process groups are touched. With dry_run, only list what would be stopped."""
    root = Path(root) if root else work_root() / "runs"
    stopped = []
    now = time.time()
    for state_file in sorted(root.glob(f"**/arm=*/{STATE}")):
        state = _read_state(state_file.parent)
        procs = (state or {}).get("load", []) + (state or {}).get("processes", [])
        if not [p for p in procs if group_members(p)]:
            continue
        owner = state.get("owner")
        age = now - state.get("created", state_file.stat().st_mtime)
        if owner and not alive(owner):
            why = f"owner pid {owner['pid']} is gone"
        elif older_than_s is not None and age >= older_than_s:
            why = f"{age / 3600:.1f} h old"
        else:
            continue
        if dry_run:
            stopped += [f"{state_file.parent}: would stop {p['name']} pid={p['pid']} pgid={p['pgid']} ({why})"
                        for p in procs if group_members(p)]
        else:
            stopped += [f"{state_file.parent}: {s} ({why})" for s in teardown_arm_dir(state_file.parent)]
    return stopped
