"""The AIPerf command line for every load mode, from the real specs and from small variants of them."""

from __future__ import annotations

import pytest

from featurebench.loadgen.aiperf import aiperf_command, aiperf_env, load_settings
from featurebench.spec import Load, ResolvedSpec, Traffic, Warmup, load_all, load_spec

KW = dict(url="http://127.0.0.1:8000", model="/m/model", tokenizer="local/tiny-llm", artifact_dir="/a/aiperf")


@pytest.fixture(scope="module")
def qwen() -> ResolvedSpec:
    return load_spec("qwen3-32b-kv-routing").latest


def variant(resolved: ResolvedSpec, **local) -> ResolvedSpec:
    """The spec with parts of its `local:` profile replaced."""
    spec = resolved.spec
    new_local = spec.local.model_copy(update=local)
    return resolved.model_copy(update={"spec": spec.model_copy(update={"local": new_local})})


def opt(cmd: list[str], flag: str) -> str | None:
    """The value after `flag` (None when absent); fails if the flag repeats."""
    assert cmd.count(flag) <= 1, f"{flag} repeats in {cmd}"
    return cmd[cmd.index(flag) + 1] if flag in cmd else None


def test_replay_on_local(qwen):
    cmd = aiperf_command(qwen, "agg-round-robin", "replay", 1, input_file="/t/local.jsonl", platform="local",
                         aiperf_bin="/bin/aiperf", **KW)
    assert cmd[:2] == ["/bin/aiperf", "profile"]
    assert opt(cmd, "--input-file") == "/t/local.jsonl"
    assert opt(cmd, "--custom-dataset-type") == "mooncake_trace"
    assert "--fixed-schedule" in cmd and "--no-fixed-schedule" not in cmd and "--concurrency" not in cmd
    assert opt(cmd, "--model") == "/m/model" and opt(cmd, "--tokenizer") == "local/tiny-llm"
    assert opt(cmd, "--url") == KW["url"] and opt(cmd, "--artifact-dir") == "/a/aiperf"
    for flag in ("--streaming", "--use-server-token-count", "--no-gpu-telemetry"):
        assert flag in cmd
    assert opt(cmd, "--export-level") == "records" and opt(cmd, "--ui-type") == "none"
    assert opt(cmd, "--goodput") == qwen.spec.goodput.aiperf_arg() == "time_to_first_token:2000 inter_token_latency:25"
    assert opt(cmd, "--extra-inputs") == "ignore_eos:true"
    assert "--warmup-request-count" not in cmd  # none locally either: it would pre-fill the KV cache
    assert opt(cmd, "--request-timeout-seconds") == "300"
    assert opt(cmd, "--random-seed") == str(qwen.spec.local.load.random_seed + 1)


def test_kubernetes_uses_top_level_settings(qwen):
    cmd = aiperf_command(qwen, "disagg-kv-router", "replay", 0, input_file="/traces/full.jsonl",
                         platform="kubernetes", **KW)
    assert cmd[0] == "aiperf"
    assert "--warmup-request-count" not in cmd  # none, as upstream: it would pre-fill the KV cache under test
    assert opt(cmd, "--request-timeout-seconds") == "1200"
    assert "--use-server-token-count" not in cmd  # a real engine's tokens are counted on the client, as upstream
    assert opt(cmd, "--tokenizer-revision") == qwen.spec.model.revision
    assert "--no-gpu-telemetry" not in cmd  # DCGM exists on a GPU cluster


def test_seed_same_for_arms_and_differs_per_trial(qwen):
    seeds = {
        (arm, trial): opt(aiperf_command(qwen, arm, "replay", trial, input_file="/t", platform="local", **KW),
                          "--random-seed")
        for arm in ("agg-round-robin", "disagg-kv-router") for trial in (0, 1, 2)
    }
    for trial in (0, 1, 2):
        assert seeds[("agg-round-robin", trial)] == seeds[("disagg-kv-router", trial)]
    assert len({seeds[("agg-round-robin", t)] for t in (0, 1, 2)}) == 3


def test_closed_loop_on_a_timestamped_trace(qwen):
    v = variant(qwen, load=Load(mode="concurrency", concurrency=[2, 8], requests_per_concurrency=5, ramp_s=3,
                                extra_inputs={"ignore_eos": True, "min_tokens": 8}))
    cmd = aiperf_command(v, "agg-round-robin", "c8", 0, input_file="/t.jsonl", platform="local", **KW)
    assert "--no-fixed-schedule" in cmd and "--fixed-schedule" not in cmd  # timestamps would force replay
    assert opt(cmd, "--concurrency") == "8" and opt(cmd, "--request-count") == "40"
    assert opt(cmd, "--concurrency-ramp-duration") == "3"
    extras = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--extra-inputs"]
    assert extras == ["ignore_eos:true", "min_tokens:8"]


def test_closed_loop_by_duration(qwen):
    v = variant(qwen, load=Load(mode="concurrency", concurrency=[4], duration_s=60))
    cmd = aiperf_command(v, "agg-round-robin", "c4", 0, input_file="/t.jsonl", platform="local", **KW)
    assert opt(cmd, "--benchmark-duration") == "60" and "--request-count" not in cmd


def test_synthetic_closed_loop(qwen):
    synthetic = Traffic(kind="synthetic", description="fixed", dataset_type="synthetic", isl=8192, osl=1024)
    v = variant(qwen, traffic=synthetic, load=Load(mode="concurrency", concurrency=[16], request_count=50),
                warmup=Warmup())
    cmd = aiperf_command(v, "agg-round-robin", "c16", 0, input_file=None, platform="local", **KW)
    assert (opt(cmd, "--isl"), opt(cmd, "--isl-stddev"), opt(cmd, "--osl"), opt(cmd, "--osl-stddev")) == (
        "8192", "0", "1024", "0")
    assert opt(cmd, "--request-count") == "50" and opt(cmd, "--concurrency") == "16"
    assert "--input-file" not in cmd and "--no-fixed-schedule" not in cmd
    assert "--warmup-request-count" not in cmd  # no warmup configured -> none asked for
    with pytest.raises(ValueError, match="synthetic"):
        aiperf_command(v, "agg-round-robin", "replay", 0, input_file=None, platform="local", **KW)


def test_compressed_replay(qwen):
    cmd = aiperf_command(qwen, "agg-round-robin", "replay-x2.5", 0, input_file="/t", platform="local", **KW)
    assert "--fixed-schedule" in cmd and opt(cmd, "--synthesis-speedup-ratio") == "2.5"


def test_bad_requests_fail_clearly(qwen):
    with pytest.raises(ValueError, match="unknown load point"):
        aiperf_command(qwen, "agg-round-robin", "burst", 0, input_file="/t", platform="local", **KW)
    with pytest.raises(ValueError, match="input file"):
        aiperf_command(qwen, "agg-round-robin", "replay", 0, input_file=None, platform="local", **KW)
    with pytest.raises(KeyError, match="no-such-arm"):
        aiperf_command(qwen, "no-such-arm", "replay", 0, input_file="/t", platform="local", **KW)


def test_every_point_of_every_spec_builds():
    specs, errors = load_all()
    assert specs and not errors
    for spec_file in specs.values():
        resolved = spec_file.latest
        for platform in ("local", "kubernetes"):
            traffic, _, _ = load_settings(resolved, platform)
            input_file = "/t/file" if traffic.kind == "trace" else None
            for arm in resolved.spec.arms:
                for point in resolved.spec.load_points(arm, platform):
                    cmd = aiperf_command(resolved, arm.name, point, 0, input_file=input_file, platform=platform,
                                         **KW)
                    assert ("--fixed-schedule" in cmd) == point.startswith("replay"), (spec_file.path, point)


def test_env_redirects_every_cache(tmp_path):
    env = aiperf_env(hf_home="/models/hf", cache_dir=tmp_path)
    assert env["HF_HOME"] == "/models/hf" and env["HF_HUB_OFFLINE"] == "1"
    for key in ("HOME", "AIPERF_DATASET_MMAP_BASE_PATH", "AIPERF_DATASET_MMAP_CACHE_DIR", "TIKTOKEN_CACHE_DIR"):
        assert env[key].startswith(str(tmp_path)), key
    assert "HF_HOME" not in aiperf_env(hf_home=None, cache_dir=tmp_path)


def test_topology_warmup_matches_each_load_point():
    """Llama topology (upstream perf.yaml): warmup request count = concurrency at every load point."""
    from featurebench.spec import load_spec

    resolved = load_spec("llama-3-70b-topology").latest
    for arm in resolved.spec.arms:
        for point in resolved.spec.load_points(arm, platform="kubernetes"):
            cmd = aiperf_command(resolved, arm.name, point, 1, url="http://x:8000", model="m", tokenizer="t",
                                 artifact_dir="/a", input_file=None, platform="kubernetes")
            level = point.removeprefix("c")
            assert cmd[cmd.index("--warmup-request-count") + 1] == level
            assert cmd[cmd.index("--warmup-concurrency") + 1] == level
