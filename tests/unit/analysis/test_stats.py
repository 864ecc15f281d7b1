"""featurebench.analysis.stats: the interval, the verdict rule, and the A/A and power simulations that prove them."""

import numpy as np
import pytest

from featurebench.analysis import stats
from featurebench.testing import simulations


def test_ratio_interval_centres_on_the_ratio_of_means():
    d = stats.ratio_interval([100.0, 102.0, 98.0], [110.0, 112.0, 108.0])
    assert d.delta_pct == pytest.approx(10.0)
    assert d.ci_low < 10.0 < d.ci_high
    assert d.ci_low > 0  # a 10% shift with 2% spread is clear


def test_ratio_interval_widens_with_trial_spread_and_needs_two_replicates():
    tight = stats.ratio_interval([100.0, 101.0, 99.0], [105.0, 106.0, 104.0])
    loose = stats.ratio_interval([100.0, 110.0, 90.0], [105.0, 115.0, 95.0])
    assert (loose.ci_high - loose.ci_low) > 3 * (tight.ci_high - tight.ci_low)
    single = stats.ratio_interval([100.0], [105.0])
    assert single.delta_pct == pytest.approx(5.0)
    assert np.isnan(single.ci_low) and np.isnan(single.ci_high)


def test_verdict_knows_direction_and_ignores_changes_below_threshold():
    assert stats.verdict(-12.0, -6.0, "lower", 5.0) == "better"  # latency down
    assert stats.verdict(-12.0, -6.0, "higher", 5.0) == "worse"  # throughput down
    assert stats.verdict(6.0, 12.0, "higher", 5.0) == "better"
    assert stats.verdict(-1.0, 8.0, "lower", 5.0) == "no_change"  # interval includes 0
    assert stats.verdict(1.0, 3.0, "lower", 5.0) == "no_change"  # real but below the practical threshold
    assert stats.verdict(np.nan, np.nan, "lower", 5.0) == "no_change"
    out = stats.verdict(np.array([-9.0, 2.0]), np.array([-3.0, 9.0]), np.array(["lower", "higher"]), 5.0)
    assert list(out) == ["better", "better"]


def test_time_slices_are_equal_windows():
    start = np.arange(100) * 10
    s = stats.time_slices(start, 5)
    assert list(np.bincount(s)) == [20] * 5
    assert (np.diff(s) >= 0).all()


def _rates(trials: int, seed: int, sims: int = 400) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    aa = simulations.detection_rate(simulations.simulate_verdicts(rng, sims, trials, 0.0, simulations.ASSUMED_TRIAL_CV))
    power = simulations.detection_rate(simulations.simulate_verdicts(rng, sims, trials, 5.0, simulations.ASSUMED_TRIAL_CV))
    return aa, power


def test_aa_false_alarms_at_most_5pct_and_power_at_recommended_trials():
    """A/A and a true +5% p50 TTFT shift, heavy-tailed requests, trial CV 2%, 2000 requests per trial."""
    aa3, power3 = _rates(3, seed=11)
    aa_rec, power_rec = _rates(simulations.RECOMMENDED_TRIALS, seed=12)
    print(f"\n3 trials: A/A false alarms {aa3:.1%}, power at +5% {power3:.1%}")
    print(f"{simulations.RECOMMENDED_TRIALS} trials: A/A false alarms {aa_rec:.1%}, power at +5% {power_rec:.1%}")
    assert aa3 <= 0.05
    assert aa_rec <= 0.05
    assert power_rec >= 0.80
    assert power3 < power_rec  # more trials, more power: the simulation is sensitive to the trial count


def test_more_trial_noise_means_less_power():
    rng = np.random.default_rng(5)
    quiet = simulations.detection_rate(simulations.simulate_verdicts(rng, 300, 3, 5.0, 0.005))
    noisy = simulations.detection_rate(simulations.simulate_verdicts(rng, 300, 3, 5.0, 0.04))
    print(f"\npower at 3 trials: trial CV 0.5% -> {quiet:.1%}, 4% -> {noisy:.1%}")
    assert quiet > noisy + 0.3


def test_bootstrap_over_three_trials_would_overstate_confidence():
    """Why the interval is a t interval: a percentile bootstrap over 3 trials raises far more A/A alarms."""
    rng = np.random.default_rng(3)
    sims, n = 400, 3
    c = np.exp(rng.normal(0, 0.02, (sims, n)))
    t = np.exp(rng.normal(0, 0.02, (sims, n)))
    idx = rng.integers(0, n, (sims, 1000, n))
    boot = np.take_along_axis(t[:, None, :].repeat(1000, 1), idx, 2).mean(-1) / np.take_along_axis(
        c[:, None, :].repeat(1000, 1), rng.integers(0, n, (sims, 1000, n)), 2).mean(-1)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=1)
    boot_alarm = np.mean((lo > 1) | (hi < 1))
    d = stats.ratio_interval(c, t)
    t_alarm = np.mean((d.ci_low > 0) | (d.ci_high < 0))
    print(f"\nA/A alarm rate ignoring the threshold: bootstrap {boot_alarm:.1%}, Welch t {t_alarm:.1%}")
    assert t_alarm <= 0.07
    assert boot_alarm > 2 * t_alarm
