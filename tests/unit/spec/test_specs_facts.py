"""The specs (and what they render to) say what the upstream recipes say.

The expected values below are transcribed by hand from shared/reference/feature-benchmarks.md - not read back
from the specs - so a spec edit that drifts from the published setup fails here.
"""

from __future__ import annotations

import pytest
import yaml

from featurebench.recipes import preview_run, render_arm
from featurebench.spec import load_all

SPECS, _ = load_all()

# worker pool -> (role, replicas, GPUs per pod, nodes per replica, TP)
ARMS = {
    "kimi-k2-5-feature-stack": {  # section 1
        "agg-round-robin": dict(role="control", catalog="baseline", gpus=24, router="round-robin", conc=8,
                                workers={"agg": ("agg", 3, 4, 2, 8)}),
        "agg-eagle-round-robin": dict(role="treatment", catalog="treatment", gpus=24, router="round-robin", conc=24,
                                      workers={"agg": ("agg", 3, 4, 2, 8)}),
        "agg-eagle-kv-router": dict(role="treatment", catalog="treatment", gpus=24, router="kv", conc=24,
                                    workers={"agg": ("agg", 3, 4, 2, 8)}),
        "disagg-eagle-kv-router": dict(role="treatment", catalog="winner", gpus=24, router="kv", conc=32,
                                       workers={"prefill": ("prefill", 3, 4, 1, 4), "decode": ("decode", 3, 4, 1, 4)}),
    },
    "qwen3-6-35b-feature-stack": {  # section 2
        "vllm-serve": dict(role="control", catalog="baseline", gpus=1, router=None, conc=30,
                           workers={"vllm-serve": ("agg", 1, 1, 1, 1)}),
        "dynamo-fd": dict(role="treatment", catalog="treatment", gpus=1, router="round-robin", conc=30,
                          workers={"VllmWorker": ("agg", 1, 1, 1, 1)}),
        "dynamo-fd-ec": dict(role="treatment", catalog="winner", gpus=1, router="round-robin", conc=30,
                             workers={"VllmWorker": ("agg", 1, 1, 1, 1)}),
    },
    "qwen3-vl-embedding-cache": {  # section 3
        "cache-off": dict(role="control", catalog="baseline", gpus=1, router="round-robin", conc=64,
                          workers={"VllmWorker": ("agg", 1, 1, 1, 1)}),
        "cache-on": dict(role="treatment", catalog="treatment", gpus=1, router="round-robin", conc=64,
                         workers={"VllmWorker": ("agg", 1, 1, 1, 1)}),
    },
    "deepseek-v3-2-wideep-routing": {  # section 4
        "agg-round-robin": dict(role="control", catalog="baseline", gpus=32, router="round-robin", conc=None,
                                workers={"agg": ("agg", 4, 4, 2, 8)}),
        "disagg-kv-router": dict(role="treatment", catalog="treatment", gpus=32, router="kv", conc=None,
                                 workers={"prefill": ("prefill", 2, 4, 2, 8), "dec": ("decode", 2, 4, 2, 8)}),
    },
    "qwen3-32b-kv-routing": {  # section 5
        "agg-round-robin": dict(role="control", catalog="baseline", gpus=16, router="round-robin", conc=None,
                                workers={"VllmDecodeWorker": ("agg", 8, 2, 1, 2)}),
        "disagg-kv-router": dict(role="treatment", catalog="treatment", gpus=16, router="kv", conc=None,
                                 workers={"VllmPrefillWorker": ("prefill", 6, 2, 1, 2),
                                          "VllmDecodeWorker": ("decode", 2, 2, 1, 2)}),
    },
    "llama-3-70b-topology": {  # section 6: concurrency 16/GPU, requests 10 x concurrency
        "agg": dict(role="control", catalog="baseline", gpus=4, router="round-robin", conc=64, requests=640,
                    workers={"VllmPrefillWorker": ("agg", 1, 4, 1, 4)}),
        "disagg-single-node": dict(role="treatment", catalog="treatment", gpus=8, router="round-robin", conc=128,
                                   requests=1280, workers={"VllmPrefillWorker": ("prefill", 2, 2, 1, 2),
                                                           "VllmDecodeWorker": ("decode", 1, 4, 1, 4)}),
        "disagg-multi-node": dict(role="treatment", catalog="treatment", gpus=16, router="round-robin", conc=256,
                                  requests=2560, workers={"VllmPrefillWorker": ("prefill", 1, 8, 1, 8),
                                                          "VllmDecodeWorker": ("decode", 1, 8, 1, 8)}),
    },
}

BENCHMARKS = {
    # id: (model, backend, GPU type, pool, goodput (TTFT ms, ITL ms) or None, load mode, request count, image repo)
    "kimi-k2-5-feature-stack": ("nvidia/Kimi-K2.5-NVFP4", "trtllm", "GB200", "gb200", (5000, 10), "concurrency",
                                None, "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime"),
    "qwen3-6-35b-feature-stack": ("Qwen/Qwen3.6-35B-A3B-FP8", "vllm", "H100", "h100", None, "concurrency", 240,
                                  "nvcr.io/nvidia/ai-dynamo/vllm-runtime"),
    "qwen3-vl-embedding-cache": ("Qwen/Qwen3-VL-30B-A3B-Instruct-FP8", "vllm", "GB200", "gb200", None, "concurrency",
                                 1000, "nvcr.io/nvidia/ai-dynamo/vllm-runtime"),
    "deepseek-v3-2-wideep-routing": ("nvidia/DeepSeek-V3.2-NVFP4", "trtllm", "GB200", "gb200", (20000, 50),
                                     "fixed_schedule", None, "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime"),
    "qwen3-32b-kv-routing": ("Qwen/Qwen3-32B", "vllm", "H200", "h200", (2000, 25), "fixed_schedule", None,
                             "nvcr.io/nvidia/ai-dynamo/vllm-runtime"),
    "llama-3-70b-topology": ("RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic", "vllm", "H100", "h100", None,
                             "concurrency", None, "nvcr.io/nvidia/ai-dynamo/vllm-runtime"),
}

CASES = [(sid, arm) for sid, arms in ARMS.items() for arm in arms]


def test_every_benchmark_and_arm_is_in_the_table():
    assert set(SPECS) == set(BENCHMARKS) == set(ARMS)
    for sid, spec_file in SPECS.items():
        assert {a.name for a in spec_file.spec.arms} == set(ARMS[sid])


@pytest.mark.parametrize("sid", sorted(BENCHMARKS))
def test_benchmark_facts(sid):
    spec = SPECS[sid].latest.spec
    model, backend, gpu, pool, goodput, mode, requests, image = BENCHMARKS[sid]
    assert spec.model.hf_id == model
    assert spec.hardware.gpu == gpu and spec.hardware.pool == pool
    assert spec.load.mode == mode
    assert spec.load.request_count == requests
    assert (None if spec.goodput is None else (spec.goodput.ttft_ms, spec.goodput.itl_ms)) == goodput
    for arm in spec.arms:
        assert arm.deploy.image == image
        assert arm.deploy.backend == backend


@pytest.mark.parametrize("sid,arm_name", CASES)
def test_arm_facts_in_the_spec(sid, arm_name):
    spec = SPECS[sid].latest.spec
    arm = spec.arm(arm_name)
    want = ARMS[sid][arm_name]
    assert arm.role == want["role"] and arm.catalog_role == want["catalog"]
    assert arm.gpus == want["gpus"] == arm.deploy.gpus
    if want["router"] is None:
        assert arm.deploy.kind == "vllm-serve"
    else:
        assert arm.deploy.kind == "dynamo" and arm.deploy.router_mode == want["router"]
    got = {w.name: (w.role, w.replicas, w.gpus_per_pod, w.nodes_per_replica, w.tp) for w in arm.deploy.workers}
    assert got == want["workers"]
    points = spec.load_points(arm)
    assert points == (["replay"] if want["conc"] is None else [f"c{want['conc']}"])


@pytest.mark.parametrize("sid,arm_name", CASES)
def test_arm_facts_in_the_rendered_manifests(sid, arm_name):
    """The same facts, read from what would be applied to the cluster and what AIPerf would run."""
    resolved = SPECS[sid].latest
    want = ARMS[sid][arm_name]
    docs = render_arm(resolved, arm_name, preview_run(resolved))
    dgds = [d for d in docs if d["kind"] == "DynamoGraphDeployment"]
    if want["router"] is None:
        assert not dgds
        (dep,) = [d for d in docs if d["kind"] == "Deployment"]
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(want["gpus"])
        assert container["command"][-2:] == ["vllm", "serve"]
    else:
        (dgd,) = dgds
        services = dgd["spec"]["services"]
        front = services.pop("Frontend")["extraPodSpec"]["mainContainer"]["args"]
        assert front[front.index("--router-mode") + 1] == want["router"]
        total = 0
        for name, (role, replicas, gpus, nodes, tp) in want["workers"].items():
            svc = services[name]
            assert svc["replicas"] == replicas
            assert svc["resources"]["limits"]["gpu"] == str(gpus)
            assert svc.get("multinode", {"nodeCount": 1})["nodeCount"] == nodes
            assert svc.get("subComponentType") == (role if role != "agg" else None)
            args = svc["extraPodSpec"]["mainContainer"]["args"]
            if "--tensor-parallel-size" in args:  # vLLM
                assert args[args.index("--tensor-parallel-size") + 1] == str(tp)
            else:  # TRT-LLM: the engine config in the ConfigMap
                (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
                path = args[args.index("--extra-engine-args") + 1].removeprefix("/config/")
                assert yaml.safe_load(cm["data"][path])["tensor_parallel_size"] == tp
            total += replicas * gpus * nodes
        assert set(services) == set(want["workers"])
        assert total == want["gpus"]
    jobs = [d for d in docs if d["kind"] == "Job"]
    for job in jobs:
        cmd = job["spec"]["template"]["spec"]["containers"][0]["command"]
        if want["conc"] is None:
            assert "--fixed-schedule" in cmd and "--concurrency" not in cmd
        else:
            assert cmd[cmd.index("--concurrency") + 1] == str(want["conc"])
        if "requests" in want:
            assert cmd[cmd.index("--request-count") + 1] == str(want["requests"])
        goodput = BENCHMARKS[sid][4]
        if goodput:
            assert cmd[cmd.index("--goodput") + 1] == f"time_to_first_token:{goodput[0]} inter_token_latency:{goodput[1]}"
        else:
            assert "--goodput" not in cmd


def _engine_configs(sid: str, arm: str) -> dict:
    resolved = SPECS[sid].latest
    (cm,) = [d for d in render_arm(resolved, arm, preview_run(resolved)) if d["kind"] == "ConfigMap"]
    return {k: yaml.safe_load(v) for k, v in cm["data"].items()}


def test_kimi_feature_deltas():
    base = _engine_configs("kimi-k2-5-feature-stack", "agg-round-robin")["agg.yaml"]
    assert "speculative_config" not in base
    for arm in ("agg-eagle-round-robin", "agg-eagle-kv-router"):
        spec = _engine_configs("kimi-k2-5-feature-stack", arm)["agg.yaml"]["speculative_config"]
        assert spec["decoding_type"] == "Eagle3" and spec["max_draft_len"] == 3
    winner = _engine_configs("kimi-k2-5-feature-stack", "disagg-eagle-kv-router")
    assert winner["prefill.yaml"]["kv_cache_config"]["host_cache_size"] == 107374182400  # 100 GiB
    assert winner["prefill.yaml"]["enable_attention_dp"] is True
    assert winner["decode.yaml"]["enable_attention_dp"] is False
    assert "host_cache_size" not in winner["decode.yaml"]["kv_cache_config"]
    assert winner["decode.yaml"]["speculative_config"]["decoding_type"] == "Eagle"
    for arm in ("agg-round-robin", "agg-eagle-round-robin", "agg-eagle-kv-router"):
        assert "host_cache_size" not in _engine_configs("kimi-k2-5-feature-stack", arm)["agg.yaml"]["kv_cache_config"]


def test_deepseek_wideep_only_on_decode():
    dis = _engine_configs("deepseek-v3-2-wideep-routing", "disagg-kv-router")
    agg = _engine_configs("deepseek-v3-2-wideep-routing", "agg-round-robin")
    assert dis["decode.yaml"]["moe_config"]["backend"] == "WIDEEP"
    assert dis["prefill.yaml"]["moe_config"]["backend"] == "TRTLLM"
    assert agg["aggregated.yaml"]["moe_config"]["backend"] == "TRTLLM"
    for cfg in (*dis.values(), *agg.values()):
        assert (cfg["tensor_parallel_size"], cfg["moe_expert_parallel_size"], cfg["enable_attention_dp"]) == (8, 8, True)


@pytest.mark.parametrize("sid,arm,gb", [
    ("qwen3-vl-embedding-cache", "cache-off", "0"), ("qwen3-vl-embedding-cache", "cache-on", "10"),
    ("qwen3-6-35b-feature-stack", "dynamo-fd-ec", "8"),
])
def test_embedding_cache_sizes(sid, arm, gb):
    env = {w.name: w.env for w in SPECS[sid].latest.spec.arm(arm).deploy.workers}["VllmWorker"]
    assert env["DYN_MULTIMODAL_EMBEDDING_CACHE_GB"] == gb


def test_qwen36_fd_arm_has_no_embedding_cache_and_all_keep_the_30gb_processor_cache():
    spec = SPECS["qwen3-6-35b-feature-stack"].latest.spec
    fd = spec.arm("dynamo-fd").deploy.workers[0]
    assert "DYN_MULTIMODAL_EMBEDDING_CACHE_GB" not in fd.env
    assert "--multimodal-embedding-cache-capacity-gb" not in fd.args
    for arm in spec.arms:
        args = arm.deploy.workers[0].args
        assert args[args.index("--mm-processor-cache-gb") + 1] == "30"
    assert spec.hardware.gpu_types == ["H100", "GB200"]


def test_qwen3_vl_arms_differ_only_by_the_cache_env():
    spec = SPECS["qwen3-vl-embedding-cache"].latest.spec
    on, off = spec.arm("cache-on").deploy, spec.arm("cache-off").deploy
    assert on.model_dump(exclude={"workers"}) == off.model_dump(exclude={"workers"})
    w_on, w_off = on.workers[0].model_dump(), off.workers[0].model_dump()
    assert w_on.pop("env")["DYN_MULTIMODAL_EMBEDDING_CACHE_GB"] == "10"
    assert w_off.pop("env")["DYN_MULTIMODAL_EMBEDDING_CACHE_GB"] == "0"
    assert w_on == w_off


def test_llama_topology_is_read_per_gpu():
    spec = SPECS["llama-3-70b-topology"].latest.spec
    assert spec.comparison.per_gpu is True
    assert spec.load.concurrency_per_gpu == 16 and spec.load.requests_per_concurrency == 10
    assert (spec.traffic.isl, spec.traffic.osl) == (8192, 1024)
    assert spec.load.random_seed == 100


def test_traffic_sizes_match_the_reference():
    t = {sid: f.latest.spec.traffic.params for sid, f in SPECS.items()}
    assert t["kimi-k2-5-feature-stack"]["sessions"] == 1131 and t["kimi-k2-5-feature-stack"]["seed"] == 42
    assert (t["qwen3-6-35b-feature-stack"]["users"], t["qwen3-6-35b-feature-stack"]["turns"],
            t["qwen3-6-35b-feature-stack"]["window"], t["qwen3-6-35b-feature-stack"]["text_tokens"]) == (30, 8, 5, 8000)
    vl = t["qwen3-vl-embedding-cache"]
    assert (vl["requests"], vl["pool"], vl["images_per_request"], vl["text_tokens"]) == (1000, 200, 1, 400)
    ds = t["deepseek-v3-2-wideep-routing"]
    assert (ds["requests"], ds["mean_isl"], ds["mean_osl"]) == (10000, 39186, 344) and ds["max_isl"] >= 109459
    vl_load = SPECS["qwen3-vl-embedding-cache"].latest.spec.load
    assert vl_load.extra_inputs["max_tokens"] == vl_load.extra_inputs["min_tokens"] == 150
    q36_load = SPECS["qwen3-6-35b-feature-stack"].latest.spec.load
    assert q36_load.extra_inputs["max_tokens"] == q36_load.extra_inputs["min_tokens"] == 1024


def test_kimi_duration_versions():
    spec_file = SPECS["kimi-k2-5-feature-stack"]
    by_version = {v.version: spec_file.resolve(v.effective_from).spec.load.duration_s for v in spec_file.spec.versions}
    assert set(by_version.values()) == {3600, 1800}  # page: one hour; current perf.yaml: 30 minutes
    assert spec_file.latest.spec.load.duration_s == 1800


@pytest.mark.parametrize("sid", sorted(BENCHMARKS))
def test_local_profiles_are_tiny(sid):
    spec = SPECS[sid].latest.spec
    local = spec.local
    assert local.trials <= 2
    for arm in spec.arms:
        assert len(spec.load_points(arm, platform="local")) == 1
        assert sum(w.count for w in spec.local_arm(arm.name).workers) <= 4
        if not spec.local_arm(arm.name).simulated:
            assert "NOT SIMULATED" in spec.local_arm(arm.name).note
    if local.load.mode == "concurrency":
        conc = local.load.concurrency[0]
        count = local.load.request_count or (local.load.requests_per_concurrency or 10) * conc
        assert count <= 64


def test_local_profiles_model_what_the_mocker_can():
    kimi = SPECS["kimi-k2-5-feature-stack"].latest.spec
    winner = {w.role: w.mocker_args for w in kimi.local_arm("disagg-eagle-kv-router").workers}
    assert "--num-g2-blocks" in winner["prefill"] and "--decode-speedup-ratio" in winner["decode"]
    assert not any(w.mocker_args for w in kimi.local_arm("agg-round-robin").workers)
    for sid in ("qwen3-6-35b-feature-stack", "qwen3-vl-embedding-cache"):
        assert all(not SPECS[sid].latest.spec.local_arm(a.name).simulated for a in SPECS[sid].latest.spec.arms)
    ds = SPECS["deepseek-v3-2-wideep-routing"].latest.spec
    assert {w.role for w in ds.local_arm("disagg-kv-router").workers} == {"prefill", "decode"}


def test_deepseek_trace_matches_the_published_statistics(tmp_path):
    """10,000 requests, ISL avg 39,186 (min 12,801, max 109,459), OSL avg 344, 430,838 unique of 770,934
    block references (44.1% reuse) - section 4's table."""
    from featurebench.traces import generator_for

    traffic = SPECS["deepseek-v3-2-wideep-routing"].latest.spec.traffic
    stats = generator_for(traffic.generator)(dict(traffic.params), tmp_path / "full.jsonl")
    assert stats["requests"] == 10000
    assert stats["isl_mean"] == pytest.approx(39186, rel=0.02)
    assert stats["osl_mean"] == pytest.approx(344, rel=0.05)
    assert 11000 <= stats["isl_min"] and stats["isl_max"] <= 110000
    assert stats["cache_efficiency"] == pytest.approx(1 - 430838 / 770934, abs=0.02)
