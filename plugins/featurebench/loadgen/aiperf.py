"""The AIPerf command line for one load point and trial: one place, used by both platforms.

Load point labels (spec.LOAD_POINT):
- "replay"       fixed-schedule replay of the trace's timestamps;
- "replay-x<F>"  the same trace with arrivals compressed F times (AIPerf trace synthesis; may rewrite hash_ids);
- "c<N>"         closed loop at concurrency N (a trace's timestamps are ignored with --no-fixed-schedule).

The local platform uses the spec's `local:` traffic/load/warmup, Kubernetes the top-level ones. The random seed
is the spec's seed plus the trial number: every arm sees the same requests within a trial, and trials differ.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from featurebench.spec import Load, ResolvedSpec, Traffic, Warmup

_CONCURRENCY = re.compile(r"^c([1-9][0-9]*)$")
_REPLAY = re.compile(r"^replay(?:-x([0-9]+(?:\.[0-9]+)?))?$")


def load_settings(resolved: ResolvedSpec, platform: str) -> tuple[Traffic, Load, Warmup]:
    """The traffic, load and warmup in force on a platform (BenchmarkSpec.load_section)."""
    return resolved.spec.load_section(platform)


def trial_seed(load: Load, trial: int) -> int:
    return load.random_seed + trial


def _extra_input(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"{key}:{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"{key}:{value}"
    return json.dumps({key: value})  # strings, lists, objects: AIPerf's JSON form keeps the type


def aiperf_command(
    resolved: ResolvedSpec,
    arm: str,
    point: str,
    trial: int,
    *,
    url: str,
    model: str,
    tokenizer: str,
    artifact_dir: str,
    input_file: str | None,
    platform: str,
    aiperf_bin: str = "aiperf",
) -> list[str]:
    """argv of `aiperf profile` for one arm, load point and trial. Raises ValueError on a point the spec's
    load settings cannot run (e.g. 'replay' of synthetic traffic)."""
    spec = resolved.spec
    spec.arm(arm)  # unknown arm -> KeyError naming the arms
    traffic, load, warmup = load_settings(resolved, platform)
    cmd = [
        aiperf_bin, "profile",
        "--model", model,
        "--tokenizer", tokenizer,
        "--url", url,
        "--endpoint-type", "chat",
        "--streaming",
        "--random-seed", str(trial_seed(load, trial)),
        "--request-timeout-seconds", str(load.request_timeout_s),
        "--wait-for-model-timeout", "0",  # the platform's wait_ready already checked the model; no stray request
        "--export-level", "records",
        "--ui-type", "none",
        "--artifact-dir", str(artifact_dir),
    ]
    cmd += _tokenizer_flags(spec.model, platform)
    if platform == "local":
        cmd.append("--no-gpu-telemetry")  # no DCGM on a simulated run: avoids a timeout and warnings
        # the mocker's Prometheus counters say nothing about hardware and ingest skips them: no scraper service,
        # no 2 s flush at the end of every trial
        cmd.append("--no-server-metrics")
        # the mocker returns random token ids that re-tokenize differently; real engines are counted on the
        # client, as upstream does
        cmd.append("--use-server-token-count")
    if spec.goodput is not None:
        cmd += ["--goodput", spec.goodput.aiperf_arg()]
    for key, value in load.extra_inputs.items():
        cmd += ["--extra-inputs", _extra_input(key, value)]

    replay = _REPLAY.fullmatch(point)
    closed = _CONCURRENCY.fullmatch(point)
    if not (replay or closed):
        raise ValueError(f"unknown load point {point!r}: expected 'replay', 'replay-x<F>' or 'c<N>'")
    if replay and replay.group(1) and float(replay.group(1)) <= 0:
        raise ValueError(f"load point {point!r}: the replay speed-up must be above 0")

    if traffic.kind == "trace":
        if not input_file:
            raise ValueError(f"{spec.id}: trace traffic needs an input file")
        cmd += ["--input-file", str(input_file), "--custom-dataset-type", traffic.dataset_type]
        if "block_size" in traffic.params and traffic.dataset_type == "mooncake_trace":
            cmd += ["--isl-block-size", str(traffic.params["block_size"])]
    elif replay:
        raise ValueError(f"{spec.id}: point {point!r} replays a trace, but the traffic is synthetic")
    else:
        cmd += ["--isl", str(traffic.isl), "--isl-stddev", "0", "--osl", str(traffic.osl), "--osl-stddev", "0"]

    if replay:
        cmd.append("--fixed-schedule")
        if replay.group(1):
            cmd += ["--synthesis-speedup-ratio", replay.group(1)]
    else:
        concurrency = int(closed.group(1))
        if traffic.dataset_type == "mooncake_trace":
            cmd.append("--no-fixed-schedule")  # a timestamped trace would otherwise switch to replay
        cmd += ["--concurrency", str(concurrency)]
        if load.ramp_s:
            cmd += ["--concurrency-ramp-duration", str(load.ramp_s)]
        if load.duration_s:
            cmd += ["--benchmark-duration", str(load.duration_s)]
        else:
            count = load.request_count or (load.requests_per_concurrency or 10) * concurrency
            cmd += ["--request-count", str(count)]

    level = closed.group(1) if closed else ""
    cmd += [a.replace("{concurrency}", level) for a in load.aiperf_args]
    if warmup.separate:
        pass  # a run of its own before this one: warmup_command
    elif warmup.match_concurrency and closed:  # topology recipes: warm up with one request per concurrent slot
        level = closed.group(1)
        cmd += ["--warmup-request-count", level, "--warmup-concurrency", level]
    elif warmup.requests:
        cmd += ["--warmup-request-count", str(warmup.requests)]
        if warmup.concurrency:
            cmd += ["--warmup-concurrency", str(warmup.concurrency)]
    return cmd


def _tokenizer_flags(model, platform: str) -> list[str]:
    """Remote-code and revision flags for the real model's tokenizer (the local platform's is the tiny model)."""
    if platform == "local":
        return []
    flags = ["--tokenizer-trust-remote-code"] if model.trust_remote_code else []
    if model.revision != "main":
        flags += ["--tokenizer-revision", model.revision]
    return flags


def warmup_command(resolved: ResolvedSpec, *, url: str, model: str, tokenizer: str, artifact_dir: str,
                   platform: str, aiperf_bin: str = "aiperf") -> list[str] | None:
    """argv of the separate synthetic warmup run (warmup.separate), or None. Its random prompts share no prefix
    with the trace, so the KV cache the measured run is judged on is not pre-warmed by it."""
    traffic, load, warmup = load_settings(resolved, platform)
    if not (warmup.separate and warmup.requests):
        return None
    cmd = [aiperf_bin, "profile", "--model", model, "--tokenizer", tokenizer, "--url", url, "--streaming",
           *_tokenizer_flags(resolved.spec.model, platform), "--ui-type", "none", "--artifact-dir", artifact_dir]
    if warmup.isl:
        cmd += ["--isl", str(warmup.isl), "--isl-stddev", "0"]
    if warmup.osl:
        cmd += ["--osl", str(warmup.osl), "--osl-stddev", "0"]
    for key, value in warmup.extra_inputs.items():
        cmd += ["--extra-inputs", _extra_input(key, value)]
    return cmd + ["--concurrency", str(warmup.concurrency or 1), "--request-count", str(warmup.requests)]


def aiperf_env(*, hf_home: str | Path | None, cache_dir: str | Path) -> dict[str, str]:
    """Environment additions for AIPerf: offline tokenizer from an HF-cache layout, and every cache AIPerf
    would write outside its artifact folder (home, dataset mmap, tiktoken) redirected under cache_dir."""
    cache = Path(cache_dir)
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HOME": str(cache / "home"),
        "AIPERF_DATASET_MMAP_BASE_PATH": str(cache / "mmap"),
        "AIPERF_DATASET_MMAP_CACHE_DIR": str(cache / "dataset_mmap"),
        "TIKTOKEN_CACHE_DIR": str(cache / "tiktoken"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    if hf_home is not None:
        env["HF_HOME"] = str(hf_home)
    return env
