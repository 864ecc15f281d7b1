"""Pure statistics for the A/B verdict: intervals over trials, the verdict rule, and the simulations that prove them.

Method (why it looks like this):
- The unit of replication is a trial. Requests inside a trial share the trial's state (cache contents, routing
  luck, neighbours), so resampling requests would pretend we have thousands of independent observations and give
  intervals far too narrow. Each trial is reduced to one number per metric (its p50 TTFT, its output tokens/s ...),
  and the interval is built from the spread of those numbers across trials (the "summary statistic" approach for
  clustered data). The per-trial number already carries the within-trial sampling noise, so nothing is lost.
- A bootstrap over 3 trials has only 10 distinct resamples and under-states the spread by (n-1)/n; in simulation
  it raises far more than 5% false alarms. A t interval with Welch-Satterthwaite degrees of freedom is exact for
  normal trial effects, does not assume the treatment has the control's spread, and costs nothing to compute.
- The delta is a ratio (treatment / control - 1). Its interval comes from the delta method on the log ratio of the
  arm means, so the interval is centred (on the log scale) on the reported delta and never crosses -100%.
- Verdict: "better"/"worse" when the interval excludes 0 AND it reaches beyond the practical threshold. A change
  whose whole interval lies within +-threshold is real but too small to matter, so it reads "no_change".
- One trial per arm: the trial is cut into time slices that stand in for trials. That interval ignores
  run-to-run variation (it only sees drift inside one run) and is labelled as such.

Everything here is vectorized over leading axes, so the simulations run thousands of comparisons at once with the
same functions the comparison uses.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

VERDICTS = ("better", "worse", "no_change")


@dataclass(frozen=True)
class Delta:
    delta_pct: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: np.ndarray


def ratio_interval(control: np.ndarray, treatment: np.ndarray, confidence: float = 0.95) -> Delta:
    """Delta % of the mean of `treatment` over the mean of `control`, with its interval.

    Inputs are per-replicate values (trials or time slices) on the last axis; leading axes are batches.
    NaN replicates are ignored. With fewer than 2 replicates in either arm the interval is NaN.
    """
    from scipy.special import stdtrit  # the t quantile; scipy.stats would take ~2 s to import

    c = np.asarray(control, dtype=float)
    t = np.asarray(treatment, dtype=float)
    n_c = np.sum(~np.isnan(c), axis=-1)
    n_t = np.sum(~np.isnan(t), axis=-1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty or single-replicate arms give NaN, handled below
        m_c = np.nanmean(c, axis=-1)
        m_t = np.nanmean(t, axis=-1)
        # relative variance of each arm's mean (delta method: Var(log m) ~ s^2 / (n m^2))
        a = np.nanvar(t, axis=-1, ddof=1) / (n_t * m_t**2)
        b = np.nanvar(c, axis=-1, ddof=1) / (n_c * m_c**2)
        log_ratio = np.log(m_t / m_c)
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))
        # identical replicates (a == b == 0) give df = nan; any df gives a zero-width interval then
        df = np.where((a + b) == 0, np.maximum(n_c + n_t - 2, 1), df)
        q = stdtrit(df, 0.5 + confidence / 2)
        low = np.expm1(log_ratio - q * se) * 100
        high = np.expm1(log_ratio + q * se) * 100
        delta = (m_t / m_c - 1) * 100
    ok = (n_c >= 2) & (n_t >= 2) & (m_c > 0) & (m_t > 0)
    nan = np.nan
    return Delta(
        delta_pct=np.where((m_c > 0) & (n_c > 0) & (n_t > 0), delta, nan),
        ci_low=np.where(ok, low, nan),
        ci_high=np.where(ok, high, nan),
        df=np.where(ok, df, nan),
    )


def verdict(ci_low, ci_high, better, threshold_pct: float):
    """better | worse | no_change from the interval on the delta %.

    `better` is "lower" or "higher" (scalar or array). A change counts when the interval excludes 0 and reaches
    beyond +-threshold_pct; a NaN interval (no replication) is "no_change".
    """
    lo = np.asarray(ci_low, dtype=float)
    hi = np.asarray(ci_high, dtype=float)
    up = (lo > 0) & (hi >= threshold_pct)
    down = (hi < 0) & (lo <= -threshold_pct)
    lower_better = np.asarray(better) == "lower"
    good = np.where(lower_better, down, up)
    bad = np.where(lower_better, up, down)
    out = np.where(good, "better", np.where(bad, "worse", "no_change"))
    return out if out.ndim else str(out)


def time_slices(start_ns: np.ndarray, n_slices: int) -> np.ndarray:
    """Slice index (0..n_slices-1) of each request by its start time: equal-length windows of the trial."""
    start = np.asarray(start_ns, dtype=np.int64)
    if len(start) == 0:
        return np.zeros(0, dtype=np.int64)
    span = max(int(start.max() - start.min()), 1)
    return np.minimum((start - start.min()) * n_slices // (span + 1), n_slices - 1)


# --------------------------------------------------------------------------------------------- simulations


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
