"""GPU-time efficiency of one arm on the local platform: where a deployment's life goes.

Drives featurebench.platforms.local.LocalPlatform directly, as the arm's tasks do (provision -> wait_ready ->
run_load per trial -> teardown), with the spec's own local profile (qwen3-32b-kv-routing: 24 s trace replay,
warmup, its trials). First request start / last response end come from AIPerf's per-request records
(wall-clock ns), profiling rows only. Everything the platform starts is stopped by teardown (by recorded PID).

Life = provision start -> teardown complete. Engine start-up = provision start -> Ready. Measured = sum over
trials of (last response - first request). Pipeline overhead = life - engine start-up - measured.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, WORK

SPEC = "qwen3-32b-kv-routing"


def _window_ns(artifacts: Path) -> tuple[int, int]:
    """(first profiling request start, last profiling response end), wall-clock ns."""
    starts, ends = [], []
    for line in (artifacts / "profile_export.jsonl").open():
        md = json.loads(line)["metadata"]
        if md.get("benchmark_phase", "profiling") == "profiling":
            starts.append(md["request_start_ns"])
            ends.append(md["request_end_ns"])
    return min(starts), max(ends)


def _prestart_first_trial(platform, run_ctx, resolved, arm, endpoint, point) -> tuple[dict, Path]:
    """Experiment (not yet in the platform): trial 0's AIPerf started right after provision, waiting for the
    model itself, so its set-up (tokenizer, dataset synthesis) overlaps the engine's start-up."""
    from featurebench.loadgen.aiperf import aiperf_command, aiperf_env
    from featurebench.platforms.local import aiperf_bin
    from featurebench.platforms.local_processes import start_process
    from featurebench.traces import ensure_trace

    traffic = resolved.spec.local.traffic
    trial_dir = Path(endpoint["arm_dir"]) / f"point={point}" / "trial=0"
    (trial_dir / "aiperf").mkdir(parents=True, exist_ok=True)
    cmd = aiperf_command(resolved, arm, point, 0, url=endpoint["url"], model=endpoint["model"],
                         tokenizer=endpoint["tokenizer"], artifact_dir=str(trial_dir / "aiperf"),
                         input_file=str(ensure_trace(traffic)) if traffic.kind == "trace" else None,
                         platform="local", aiperf_bin=aiperf_bin())
    i = cmd.index("--wait-for-model-timeout")
    cmd[i + 1:i + 2] = ["300", "--wait-for-model-mode", "both", "--wait-for-model-interval", "0.5"]
    env = {**os.environ, **aiperf_env(hf_home=endpoint["hf_home"], cache_dir=run_ctx.work_dir / "aiperf-cache")}
    return start_process(cmd, env, trial_dir / "aiperf.log", "aiperf-prestart"), trial_dir / "aiperf"


def run(trials: int | None = None, prestart: bool = False) -> list[dict]:
    """Every arm of the spec in turn on one run, as the DAG runs them (they share the run's folders)."""
    os.environ["FEATUREBENCH_WORK"] = str(WORK / "gpu-time")
    sys.path.insert(0, str(REPO / "plugins"))
    from featurebench.run import RunContext
    from featurebench.spec import load_spec

    resolved = load_spec(SPEC).latest
    spec = resolved.spec
    arms = [a.name for a in spec.arms][:2]
    point = spec.load_points(spec.control, "local")[0]
    trials = trials or spec.local.trials
    run_ctx = RunContext(benchmark=SPEC, run_id=f"bench-{os.getpid()}", date="2026-11-26", platform="local",
                         arms=arms, points={a: [point] for a in arms}, trials=trials, spec_version="bench",
                         spec_sha256="0" * 64, image_tag="bench", gpu_type="sim",
                         results_root=str(WORK / "gpu-time" / "results"))
    return [run_arm(run_ctx, resolved, arm, point, trials, prestart) for arm in arms]


def run_arm(run_ctx, resolved, arm: str, point: str, trials: int, prestart: bool) -> dict:
    from featurebench.platforms.local import LocalPlatform

    platform = LocalPlatform()
    t: dict[str, float] = {}
    windows = []
    t["provision_start"] = time.time()
    try:
        endpoint = platform.provision(run_ctx, resolved, arm)
        if prestart:
            proc, first_artifacts = _prestart_first_trial(platform, run_ctx, resolved, arm, endpoint, point)
        platform.wait_ready(run_ctx, resolved, arm, endpoint)
        t["ready"] = time.time()
        if prestart:
            from featurebench.platforms.local_processes import alive, reap, stop_processes

            try:
                while alive(proc):
                    time.sleep(0.2)
            finally:
                stop_processes([proc], grace_s=5)
                reap(proc["pid"])
            windows.append(_window_ns(first_artifacts))
        for trial in range(1 if prestart else 0, trials):
            artifacts = platform.run_load(run_ctx, resolved, arm, endpoint, point, trial)
            windows.append(_window_ns(artifacts))
        t["load_done"] = time.time()
    finally:
        t["teardown_start"] = time.time()
        platform.teardown(run_ctx, arm)
        t["teardown_done"] = time.time()

    life = t["teardown_done"] - t["provision_start"]
    startup = t["ready"] - t["provision_start"]
    measured = sum((end - start) / 1e9 for start, end in windows)
    first, last = windows[0][0] / 1e9, windows[-1][1] / 1e9
    between = [(windows[k + 1][0] - windows[k][1]) / 1e9 for k in range(len(windows) - 1)]
    return {
        "arm": arm, "point": point, "trials": trials, "aiperf_prestarted": prestart,
        "life_s": life,
        "engine_startup_s": startup,  # provision start -> Ready
        "ready_to_first_request_s": first - t["ready"],  # AIPerf set-up + warmup of trial 0
        "between_trials_s": between,  # AIPerf end of trial k + set-up and warmup of trial k+1
        "measured_s": measured,
        "last_response_to_teardown_done_s": t["teardown_done"] - last,
        "aiperf_exit_after_last_response_s": t["load_done"] - last,  # results export + exit, before teardown starts
        "teardown_s": t["teardown_done"] - t["teardown_start"],
        "measured_share": measured / life,
        "pipeline_overhead_share": (life - startup - measured) / life,
    }


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--prestart"]
    print(json.dumps(run(int(args[0]) if args else None, prestart="--prestart" in sys.argv), indent=1))
