"""featurebench.analysis.predict: real offline replays (Dynamo 1.5.1 dynamo.replay with AIConfigurator timing)."""

import json

import pytest

from featurebench.analysis import compare, metrics, predict
from featurebench.spec import load_spec


def _short(resolved):
    """The spec with its full-size traffic swapped for the head of the committed local trace."""
    from featurebench.traces import ensure_trace

    spec = resolved.spec
    return resolved.model_copy(update={"spec": spec.model_copy(update={"traffic": spec.local.traffic})}), \
        ensure_trace(spec.local.traffic)


def test_real_offline_replay_with_aic_timing_matches_its_own_summary():
    resolved, trace = _short(load_spec("qwen3-32b-kv-routing").latest)
    job = predict.replay_job(resolved, "disagg-kv-router", "replay", trace)
    assert job["workers"] == {"prefill": 6, "decode": 2} and job["router_mode"] == "kv_router"
    out = predict.run_job(job)
    assert out["engine_args"]["prefill"]["num_gpu_blocks"] > 1000  # H200 KV capacity from AIC's memory model
    table = predict.requests_table(out["requests"], resolved.spec.goodput)
    assert table.num_rows == out["summary"]["completed_requests"] == sum(1 for _ in open(trace))
    ours = metrics.trial_metrics(table, gpus=16)
    assert ours[("ttft", "mean")] == pytest.approx(out["summary"]["mean_ttft_ms"], rel=1e-6)
    # percentiles: ours interpolate linearly like AIPerf; the replay's summary picks a sample (a few % apart at
    # the local trace's 40 requests)
    assert ours[("ttft", "p50")] == pytest.approx(out["summary"]["median_ttft_ms"], rel=0.1)
    # AIC's H200 TP2 decode step for Qwen3-32B is ~10-20 ms; the polynomial baseline knows nothing of that
    assert 5 < ours[("itl", "p50")] < 40


def test_predict_json_has_compares_shape():
    resolved, _ = _short(load_spec("qwen3-32b-kv-routing").latest)
    prediction = predict.predict(resolved, log=lambda m: None)
    doc = json.loads(json.dumps(prediction.to_json()))
    assert {tuple(sorted(r)) for r in doc["arms"]} == {tuple(sorted(predict.PREDICTION_COLUMNS))}
    names = {metrics.metric_name(r["metric"], r["stat"]) for r in doc["arms"]}
    assert {"ttft_p50", "itl_mean", "output_tps_per_gpu", "goodput_rps"} <= names
    assert doc["comparison"] and set(doc["comparison"][0]) == set(compare.COLUMNS)
    assert "simulated H200" in doc["timing"] and "PREDICTION" in predict.format_text(prediction)


def test_multimodal_arms_are_not_modelled_and_say_so():
    prediction = predict.predict(load_spec("qwen3-vl-embedding-cache").latest, log=lambda m: None)
    assert prediction.arms.empty and prediction.comparison is None
    assert all(why.startswith("NOT MODELLED: vision encoder") for why in prediction.skipped.values())
    assert "cache-on: NOT MODELLED" in predict.format_text(prediction)
