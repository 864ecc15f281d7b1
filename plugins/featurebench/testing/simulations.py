"""Simulations the tests and bench/ use to prove the statistics: heavy-tailed latencies, A/A and power runs of
the verdict rule (same code path as compare), and synthetic canonical per-request tables. Never imported by the
library."""

from __future__ import annotations

import numpy as np

from featurebench.analysis.stats import ratio_interval, verdict


def heavy_tailed_latencies(rng: np.random.Generator, shape: tuple, median_ms: float = 200.0) -> np.ndarray:
    """Per-request latencies: a lognormal body plus 3% Pareto outliers (x1 to x60), like queueing spikes."""
    body = median_ms * rng.lognormal(0.0, 0.5, size=shape)
    outlier = rng.random(shape) < 0.03
    # capped at x60: past that a real client times the request out
    return np.where(outlier, body * np.minimum(1 + rng.pareto(1.5, size=shape) * 5, 60.0), body)


def simulate_trials(
    rng: np.random.Generator, sims: int, trials: int, requests: int, trial_cv: float, scale: float = 1.0
) -> np.ndarray:
    """Per-request latencies of shape (sims, trials, requests) with a lognormal trial effect of CV `trial_cv`.

    The trial effect is what repeating a trial on the same deployment changes (cache state, routing luck,
    neighbours); `scale` is the arm's true effect (1.05 = 5% slower).
    """
    trial_effect = np.exp(rng.normal(0.0, trial_cv, size=(sims, trials, 1)))
    return scale * trial_effect * heavy_tailed_latencies(rng, (sims, trials, requests))


def simulate_verdicts(
    rng: np.random.Generator,
    sims: int,
    trials: int,
    shift_pct: float,
    trial_cv: float,
    requests: int = 2000,
    threshold_pct: float = 5.0,
    confidence: float = 0.95,
    quantile: float = 0.5,
) -> np.ndarray:
    """Verdicts on a latency percentile for `sims` simulated control/treatment pairs (same code path as compare)."""
    control = simulate_trials(rng, sims, trials, requests, trial_cv)
    treatment = simulate_trials(rng, sims, trials, requests, trial_cv, scale=1 + shift_pct / 100)
    per_trial_c = np.quantile(control, quantile, axis=-1)
    per_trial_t = np.quantile(treatment, quantile, axis=-1)
    d = ratio_interval(per_trial_c, per_trial_t, confidence)
    return verdict(d.ci_low, d.ci_high, "lower", threshold_pct)


def detection_rate(verdicts: np.ndarray) -> float:
    """Share of simulations whose verdict is not "no_change" (false alarms under A/A, power under a shift)."""
    return float(np.mean(np.asarray(verdicts) != "no_change"))


def synthetic_trial(
    rng: np.random.Generator,
    requests: int = 1000,
    ttft_scale: float = 1.0,
    itl_scale: float = 1.0,
    concurrency: int = 8,
    chunks: int = 8,
    client_lag_ms: float = 1.0,
    start_ns: int = 1_700_000_000_000_000_000,
):
    """A canonical per-request table (docs/ARCHITECTURE.md) of one simulated closed-loop trial.

    Heavy-tailed TTFT and ITL; `ttft_scale`/`itl_scale` carry the trial effect and the arm's true effect. Requests
    run `concurrency` at a time, so throughput follows latency as on a real server.
    """
    import pyarrow as pa

    ttft = heavy_tailed_latencies(rng, (requests,), median_ms=200.0) * ttft_scale
    itl = 20.0 * rng.lognormal(0.0, 0.25, requests) * itl_scale
    osl = rng.integers(64, 256, requests)
    latency = ttft + itl * (osl - 1)
    lag = rng.exponential(client_lag_ms, requests)
    # closed loop: each of `concurrency` slots runs its requests back to back
    slot = np.arange(requests) % concurrency
    busy = latency + lag
    start = np.empty(requests)
    for s in range(concurrency):
        idx = np.flatnonzero(slot == s)
        start[idx] = np.concatenate([[0.0], np.cumsum(busy[idx])[:-1]]) + lag[idx]
    start_ns_arr = start_ns + (start * 1e6).astype(np.int64)
    credit_ns = start_ns_arr - (lag * 1e6).astype(np.int64)
    end_ns = start_ns_arr + (latency * 1e6).astype(np.int64)
    gaps = (itl[:, None] * (osl[:, None] - 1) / chunks * rng.lognormal(0, 0.2, (requests, chunks))).ravel()
    icl = pa.ListArray.from_arrays(pa.array(np.arange(0, requests * chunks + 1, chunks, dtype=np.int32)), pa.array(gaps))
    null_f = pa.nulls(requests, pa.float64())
    return pa.table({
        "request_id": pa.array([f"r{i}" for i in range(requests)]),
        "conversation_id": pa.array([f"c{i}" for i in range(requests)]),
        "turn_index": pa.array(np.zeros(requests, dtype=np.int32)),
        "credit_issued_ns": credit_ns, "request_start_ns": start_ns_arr, "request_end_ns": end_ns,
        "ok": np.ones(requests, dtype=bool), "cancelled": np.zeros(requests, dtype=bool),
        "error_code": pa.nulls(requests, pa.int32()), "error_type": pa.nulls(requests, pa.string()),
        "error_message": pa.nulls(requests, pa.string()),
        "ttft_ms": ttft, "ttst_ms": null_f, "request_latency_ms": latency, "itl_ms": itl,
        "inter_chunk_latency_ms": icl, "input_tokens": rng.integers(100, 2000, requests), "output_tokens": osl,
        "cached_tokens": pa.nulls(requests, pa.int64()), "output_tps_per_user": 1000.0 / itl,
        "credit_to_start_ms": lag, "good": (ttft <= 1000.0) & (itl <= 25.0),
    })


# What the power simulation assumes and what it supports (tests/test_stats.py measures both):
# a trial effect of CV 2% (repeating a trial on the same deployment) on top of the sampling noise of 2000
# heavy-tailed requests per trial (~2.3% CV of the per-trial p50 in total). At that noise 3 trials detect a true 5%
# p50 shift only ~40% of the time; 6 trials reach ~85%. 3 trials reach 80% only if the per-trial p50 varies by
# about 1.2% or less.
ASSUMED_TRIAL_CV = 0.02
RECOMMENDED_TRIALS = 6
