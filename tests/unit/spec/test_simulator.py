"""featurebench.spec.simulator: the spec section -> Dynamo mocker engine arguments (one mapping for the local
platform and the preflight)."""

import json
from pathlib import Path

import pytest
import yaml

from featurebench.spec import SpecError, SpecFile, load_spec, simulator

SPECS = Path(__file__).resolve().parents[3] / "include" / "benchmarks"


def _spec(benchmark):
    return load_spec(benchmark).latest.spec


def _raw():
    return yaml.safe_load((SPECS / "qwen3-32b-kv-routing.yaml").read_text())


def _parse(raw, tmp_path):
    path = tmp_path / "qwen3-32b-kv-routing.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return SpecFile(path)


def test_every_benchmark_names_its_simulator_identity_with_sources():
    for path in sorted(SPECS.glob("*.yaml")):
        spec = _spec(path.stem)
        assert spec.simulator is not None and spec.simulator.timing == "aic", path.stem
        assert {"model", "kv_bytes_per_token"} <= set(spec.simulator.sources)
        assert simulator.timing_source(spec, "0.12.0").startswith("simulated ")


def test_parallel_shape_comes_from_the_deployment():
    qwen = _spec("qwen3-32b-kv-routing")
    prefill = simulator.engine_args(qwen, "disagg-kv-router", "prefill", block_size=64)
    assert prefill["is_prefill"] and "is_decode" not in prefill
    assert (prefill["aic_system"], prefill["aic_backend"], prefill["aic_model_path"]) == ("h200_sxm", "vllm",
                                                                                          "Qwen/Qwen3-32B")
    assert (prefill["aic_tp_size"], prefill["aic_attention_dp_size"]) == (2, 1) and "aic_moe_ep_size" not in prefill
    assert prefill["kv_bytes_per_token"] == 262144 == 64 * 8 * 128 * 2 * 2

    deepseek = _spec("deepseek-v3-2-wideep-routing")  # DEP8: attention-DP 8, experts over 8 ranks
    agg = simulator.engine_args(deepseek, "agg-round-robin", "agg")
    assert (agg["engine_type"], agg["aic_backend"]) == ("trtllm", "trtllm")
    assert (agg["aic_tp_size"], agg["aic_attention_dp_size"], agg["aic_moe_ep_size"], agg["aic_moe_tp_size"]) == (
        1, 8, 8, 1)
    decode = simulator.engine_args(deepseek, "disagg-kv-router", "decode")
    assert (decode["engine_type"], decode["aic_backend"]) == ("vllm", "trtllm")  # TRT-LLM's core has no P/D split

    kimi = _spec("kimi-k2-5-feature-stack")  # TEP8 without attention-DP, Eagle3 on the decoding pools only
    eagle = simulator.engine_args(kimi, "agg-eagle-kv-router", "agg")
    assert (eagle["aic_tp_size"], eagle["aic_moe_ep_size"], eagle["aic_moe_tp_size"]) == (8, 8, 1)
    assert eagle["aic_nextn"] == 3 and eagle["aic_nextn_accept_rates"] == "1,1,0"
    assert eagle["aic_fmha_dtype"] == "bfloat16"
    assert "aic_nextn" not in simulator.engine_args(kimi, "disagg-eagle-kv-router", "prefill")
    assert "aic_nextn" not in simulator.engine_args(kimi, "agg-round-robin", "agg")
    assert "host KV offload" in " ".join(simulator.not_modelled(kimi, "disagg-eagle-kv-router"))

    llama = simulator.engine_args(_spec("llama-3-70b-topology"), "agg", "agg")
    assert json.loads((Path(llama["aic_model_path"]) / "config.json").read_text())["num_hidden_layers"] == 80


def test_deploy_engine_facts_read_the_recipe_flags():
    llama = _spec("llama-3-70b-topology").arm("agg")
    assert simulator.deploy_engine_facts(llama, "agg") == {"block_size": 128, "enable_prefix_caching": False,
                                                           "gpu_memory_utilization": 0.9}
    kimi = _spec("kimi-k2-5-feature-stack").arm("disagg-eagle-kv-router")
    facts = simulator.deploy_engine_facts(kimi, "decode")
    assert facts["block_size"] == 32 and facts["enable_prefix_caching"] is False


def test_polynomial_is_explicit_and_named_in_the_banner(tmp_path):
    raw = _raw()
    raw["simulator"]["timing"] = "polynomial"
    spec = _parse(raw, tmp_path).latest.spec
    args = simulator.engine_args(spec, "agg-round-robin", "agg", block_size=64, num_gpu_blocks=1500)
    assert not any(k.startswith("aic_") for k in args) and args["num_gpu_blocks"] == 1500
    assert "uncalibrated polynomial" in simulator.timing_source(spec)
    del raw["simulator"]
    assert "no simulator section" in simulator.timing_source(_parse(raw, tmp_path).latest.spec)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["sources"].pop("kv_bytes_per_token"), "sources must say where kv_bytes_per_token"),
    (lambda s: s.update(model_config_dir="x"), "exactly one of model"),
    (lambda s: s.update(arms={"no-such-arm": {}}), "simulator.arms names unknown arms"),
    (lambda s: s.update(arms={"disagg-kv-router": {"speculative": {"nextn": 2, "accept_rates": [0.9],
                                                                    "source": "x"}}}), "accept_rates needs 2"),
])
def test_bad_simulator_section_is_a_clear_error(change, message, tmp_path):
    raw = _raw()
    change(raw["simulator"])
    with pytest.raises(SpecError, match=message):
        _parse(raw, tmp_path)


def test_mocker_flags_become_engine_json_keys():
    keys, rest, lost = simulator.mocker_flags_to_json(
        ["--num-gpu-blocks-override", "6000", "--no-enable-prefix-caching", "--decode-speedup-ratio", "2.0",
         "--num-g2-blocks", "3000", "--stagger-delay", "0"], "aic")
    assert keys == {"num_gpu_blocks": 6000, "enable_prefix_caching": False}  # the Eagle stand-in is dropped
    assert rest == ["--stagger-delay", "0"] and lost == [simulator.UNSUPPORTED_FLAGS["--num-g2-blocks"]]
    assert simulator.mocker_flags_to_json(["--decode-speedup-ratio", "2"], "polynomial")[0] == {
        "decode_speedup_ratio": 2.0}
