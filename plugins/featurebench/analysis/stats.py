"""Pure statistics for the A/B verdict: intervals over trials, and the verdict rule (the simulations that prove
them are in featurebench.testing.simulations).

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

