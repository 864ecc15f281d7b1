"""featurebench.analysis.predict without a replay: what it refuses up front, dedup, and what it prints."""

import pandas as pd

from featurebench.analysis import predict
from featurebench.spec import load_spec


def test_a_disaggregated_arm_on_a_delta_trace_is_not_modelled_without_a_replay(monkeypatch):
    monkeypatch.setattr(predict, "run_job", lambda job: (_ for _ in ()).throw(AssertionError("no replay")))
    prediction = predict.predict(load_spec("kimi-k2-5-feature-stack").latest, ["disagg-eagle-kv-router"],
                                 log=lambda m: None)
    assert prediction.skipped["disagg-eagle-kv-router"] == predict.DELTA_DISAGG
    text = predict.format_text(prediction)
    assert "disagg-eagle-kv-router: NOT MODELLED: multi-turn delta trace" in text
    assert "no arm of this benchmark can be predicted" in text


def test_identical_jobs_are_replayed_once(monkeypatch):
    resolved = load_spec("qwen3-32b-kv-routing").latest
    calls = []
    real_job = predict.replay_job
    monkeypatch.setattr(predict, "replay_job", lambda r, arm, point, trace: real_job(r, "agg-round-robin", point,
                                                                                     trace))
    monkeypatch.setattr("featurebench.traces.ensure_trace", lambda traffic, full: "/t/full.jsonl")

    def fake_run(job):
        calls.append(job)
        raise predict.PredictError("stop here")

    monkeypatch.setattr(predict, "run_job", fake_run)
    prediction = predict.predict(resolved, log=lambda m: None)
    assert len(calls) == 1  # both arms' (here identical) jobs: one replay
    assert set(prediction.skipped) == {"agg-round-robin", "disagg-kv-router"}


def test_a_comparison_the_arms_cannot_make_is_said_not_raised():
    p = predict.Prediction("b", "simulated H100", pd.DataFrame(
        [dict(arm="agg", point="c64", metric="ttft", stat="p50", unit="ms", value=1.0)],
        columns=predict.PREDICTION_COLUMNS), None, comparison_error="no load point to compare at")
    assert "no predicted verdict: no load point to compare at" in predict.format_text(p)
    assert p.to_json()["comparison_error"] == "no load point to compare at"
