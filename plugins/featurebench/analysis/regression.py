"""Regression check: does this run fall outside the week-to-week noise of earlier runs of the same benchmark?

Method (why it looks like this; peers in shared/reference/peers.md §2-3):
- Series: one value per run (the mean of its trials) for each (arm, load point, primary metric), and the
  treatment's gain over the control per (treatment, point, metric). Only runs of the same platform and GPU
  type form a history (Conbench keys series by hardware too): a local simulation never judges a GPU run.
- Baseline: the last `window` accepted runs before the one judged (Conbench-style lookback): centre = median,
  noise = standard deviation of the runs within 3.5 MADs of it (outliers dropped first, as Conbench does),
  so one odd week neither moves the centre nor inflates the noise. z is scaled for predicting one new run
  (x sqrt(1 + 1/n)). Runs judged worse are kept out of later baselines, so a regression cannot become its
  own baseline.
- A run is *worse* when it is beyond the noise (z > `z`) AND beyond the spec's practical threshold
  (`comparison.practical_threshold_pct`; in percentage points for gains), in the wrong direction. Both are
  needed: the z-score alone alarms on tiny changes of very stable series, the threshold alone on noisy ones.
- Alarm only when the newest `confirm` runs are all worse (users of vLLM's perf CI ask for "N consecutive
  runs" before filing). Since when = the first run of that streak; its configuration is compared with the
  last good run to name what changed (spec version, image tag, engine, trace ...).
- Too little history (< `min_history` baseline runs) -> pass with a note.
Bencher's t-test assumes normal weekly noise and needs its own window; Otava's E-divisive finds change points
after the fact but has no fixed "this run is bad" rule and needs many points on both sides. The rule above
answers the weekly question with few runs and is simulated in tests/test_regression.py (false alarms on
A/A histories, detection and 'since when' of injected regressions).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import statistics
from dataclasses import dataclass, field

from featurebench.errors import RegressionError

log = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Settings:
    window: int = 12  # baseline: this many accepted runs before the one judged (about a quarter)
    min_history: int = 5  # fewer baseline runs than this: no judgement
    z: float = 3.5  # z-score (prediction scale, see judge_series) beyond which a run is outside the noise
    confirm: int = 2  # newest consecutive worse runs needed to fail the check
    noise_floor_pct: float = 0.5  # smallest noise assumed (% of the median, or points for gains): MAD can be 0


@dataclass(frozen=True)
class Judgement:
    """The newest run of one series against its baseline."""

    index: int  # position of the run in the series
    value: float
    baseline: float  # median of the baseline
    noise: float  # robust scale of the baseline
    change: float  # % of the baseline (or percentage points for gains), positive = worse
    z: float  # positive = worse
    worse: bool


@dataclass
class SeriesResult:
    judged: list[Judgement] = field(default_factory=list)  # every run that had a baseline
    streak: list[Judgement] = field(default_factory=list)  # the newest consecutive worse runs
    streak_after: list[int] = field(default_factory=list)  # per judged run: streak length a check then saw
    last_good: int | None = None  # index of the last accepted run before the streak

    def regressed(self, confirm: int) -> bool:
        return len(self.streak) >= confirm


def _noise(base: list[float], med: float) -> float:
    """Week-to-week noise of the baseline: the standard deviation of the runs within 3.5 robust sigmas of the
    median (Conbench drops outliers, then takes the std). From 5-12 runs the MAD alone is often far too small
    (in simulation it doubled the false alarms); the std of the inliers is steadier and an odd week is out."""
    mad = MAD_TO_SIGMA * statistics.median(abs(b - med) for b in base)
    inliers = [b for b in base if abs(b - med) <= 3.5 * mad] if mad > 0 else base
    return _stdev(inliers) if len(inliers) > 1 else mad


def _stdev(xs: list[float]) -> float:
    """Sample standard deviation in floats (statistics.stdev is exact, with Fractions: 45% of a check's time)."""
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def judge_series(values, *, lower_is_better: bool, threshold: float, settings: Settings = Settings(),
                 absolute: bool = False) -> SeriesResult:
    """Walk a series oldest -> newest. `absolute`: changes are in the series' own unit (percentage points of a
    gain) instead of % of the baseline. The state after index i is what a check at run i would have seen."""
    sign = 1.0 if lower_is_better else -1.0  # sign * (x - baseline) > 0 means worse
    accepted: list[float] = []
    result = SeriesResult()
    last_accepted: int | None = None
    for i, x in enumerate(float(v) for v in values):
        if math.isnan(x):
            continue
        base = accepted[-settings.window:]
        if len(base) < settings.min_history:
            accepted.append(x)
            last_accepted = i
            continue
        med = statistics.median(base)  # plain Python: these lists are short and this runs in simulations
        ref = 1.0 if absolute else abs(med) / 100.0  # 1 % of the baseline, or one point
        noise = max(_noise(base, med), settings.noise_floor_pct * ref)
        delta = sign * (x - med)
        change = delta / ref if ref else math.inf
        # a prediction for one new run: the baseline's own uncertainty widens it by sqrt(1 + 1/n)
        z = delta / (noise * math.sqrt(1 + 1 / len(base))) if noise else math.inf
        worse = z > settings.z and change > threshold
        j = Judgement(i, x, med, noise, change, z, worse)
        result.judged.append(j)
        if worse:
            if not result.streak:
                result.last_good = last_accepted
            result.streak.append(j)
        else:
            accepted.append(x)
            last_accepted = i
            result.streak = []
        result.streak_after.append(len(result.streak))
    return result


# ----------------------------------------------------------------------------------------------- on the store


@dataclass(frozen=True)
class Finding:
    series: str  # e.g. "arm disagg-kv-router, point replay, ttft_ms_p50"
    unit: str
    result: SeriesResult
    runs: list[dict]  # the series' runs (date, run, config...), index-aligned with the values


def _describe(f: Finding, settings: Settings) -> str:
    first, last = f.result.streak[0], f.result.streak[-1]
    r0 = f.runs[first.index]
    what = f"{f.series}: {last.value:.4g} vs baseline median {last.baseline:.4g} ({last.change:+.1f}{f.unit} worse, " \
           f"z={last.z:.1f}, noise ±{last.noise:.3g}) since {r0['date']} (run {r0['run']}, " \
           f"{len(f.result.streak)} consecutive run(s), first {first.change:+.1f}{f.unit})"
    return what + "; " + config_change(f.runs[f.result.last_good] if f.result.last_good is not None else None, r0)


def config_change(good: dict | None, bad: dict) -> str:
    """What differs between the last good run's configuration and the first bad one's."""
    from featurebench.analysis.trends import CONFIG_KEYS

    if good is None:
        return "no earlier good run to compare the configuration with"
    diffs = [f"{k} {good.get(k) or '?'} -> {bad.get(k) or '?'}" for k in CONFIG_KEYS
             if k not in ("platform", "gpu_type", "simulated") and (good.get(k) or "") != (bad.get(k) or "")]
    if not diffs:
        return (f"configuration unchanged since {good['date']} (spec version {bad.get('spec_version')}, image "
                f"{bad.get('image_tag')}): look at the cluster, drivers or neighbours")
    return f"configuration changed since the last good run ({good['date']}): " + ", ".join(diffs)


def check_history(history, *, control: str, treatments: list[str], arms: list[str], points: dict[str, list[str]],
                  metrics: list[str], threshold_pct: float, settings: Settings = Settings()
                  ) -> tuple[list[Finding], list[str]]:
    """Judge every series of the newest run in `history` (a trends.History). Returns (regressions, notes)."""
    from featurebench.analysis.trends import RUN_COLUMNS, gains, lower_is_better

    notes: list[str] = []
    findings: list[Finding] = []
    runs = history.runs
    newest = tuple(runs.iloc[-1][RUN_COLUMNS]) if len(runs) else None
    run_records = {tuple(r[c] for c in RUN_COLUMNS): r for r in runs.to_dict(orient="records")}

    def judge(name: str, series, *, lower: bool, absolute: bool) -> None:
        keys = list(zip(series["date"], series["run"]))  # history is sorted by (date, run)
        if not keys or keys[-1] != newest:
            notes.append(f"{name}: no value in the newest run")
            return
        res = judge_series(series["value"].to_numpy(), lower_is_better=lower, threshold=threshold_pct,
                           settings=settings, absolute=absolute)
        if not res.judged or res.judged[-1].index != len(keys) - 1:
            notes.append(f"{name}: {len(keys) - 1} earlier run(s), need {settings.min_history}: not judged")
            return
        unit = " pts" if absolute else "%"
        if res.regressed(settings.confirm):
            findings.append(Finding(name, unit, res, [run_records[k] for k in keys]))
        elif res.streak:
            notes.append(f"{name}: newest run worse ({res.streak[-1].change:+.1f}{unit}, z={res.streak[-1].z:.1f}) "
                         f"for {len(res.streak)} run(s); fails after {settings.confirm} in a row")

    v = history.values[history.values["metric"].isin(metrics)].sort_values(RUN_COLUMNS, kind="stable")
    by_series = dict(iter(v.groupby(["arm", "point", "metric"], sort=False)))
    for arm in arms:
        for point in points.get(arm, []):
            for m in metrics:
                s = by_series.get((arm, point, m), v.iloc[:0])
                judge(f"arm {arm}, point {point}, {m}", s, lower=lower_is_better(m), absolute=False)
    g = gains(history, control, [t for t in treatments if t in arms], metrics).rename(columns={"gain_pct": "value"})
    g = g.sort_values(RUN_COLUMNS, kind="stable")
    for (t, point, m), s in g.groupby(["treatment_arm", "point", "metric"], sort=True):
        # gain is "positive = better" whatever the metric: a drop is worse, measured in percentage points
        judge(f"gain of {t} over {control}, point {point}, {m}", s, lower=False, absolute=True)
    return findings, notes


def regression_check(store, run: dict, resolved=None, settings: Settings = Settings()) -> dict:
    """The DAG task: judge the run against the stored history of its benchmark; raise RegressionError if it
    regressed. Writes regression.md under the run prefix either way."""
    from featurebench.analysis.trends import load_history, summary_column
    from featurebench.run import RunContext
    from featurebench.spec import load_spec

    ctx = RunContext.from_dict(run)
    spec = (resolved or load_spec(ctx.benchmark).resolve(dt.date.fromisoformat(ctx.date))).spec
    metrics = [summary_column(m) for m in spec.comparison.primary_metrics]
    history = load_history(store, ctx.benchmark, platform=ctx.platform, gpu_type=ctx.gpu_type, until=ctx.date)
    # Judge this run as the newest: drop other runs of the same date that sort after it (re-runs of a date).
    runs = history.runs
    if not ((runs["date"] == ctx.date) & (runs["run"] == ctx.run_id)).any():
        text = f"no stored summaries for run {ctx.run_id}: nothing to judge"
        store.write_text(f"{ctx.prefix}/regression.md", f"# Regression check\n\n{text}\n")
        return {"status": "skipped", "findings": [], "notes": [text]}
    later = (runs["date"] == ctx.date) & (runs["run"] > ctx.run_id)
    if later.any():
        keep = runs[~later][["date", "run"]]
        history = type(history)(history.values.merge(keep, on=["date", "run"]), runs[~later].reset_index(drop=True))
    findings, notes = check_history(
        history, control=spec.control.name, treatments=[t.name for t in spec.treatments], arms=ctx.arms,
        points=ctx.points, metrics=metrics, threshold_pct=spec.comparison.practical_threshold_pct, settings=settings,
    )
    lines = [_describe(f, settings) for f in findings]
    header = (f"{ctx.benchmark} run {ctx.run_id} ({ctx.date}, {ctx.platform}, {ctx.gpu_type}) against "
              f"{len(history.runs) - 1} earlier run(s): robust z > {settings.z:g} and worse than "
              f"{spec.comparison.practical_threshold_pct:g}% for {settings.confirm} run(s) in a row")
    body = ["# Regression check", "", header, ""]
    body += ["## Regressions", "", *[f"- {x}" for x in lines], ""] if lines else ["No regression.", ""]
    body += ["## Notes", "", *[f"- {n}" for n in notes], ""] if notes else []
    store.write_text(f"{ctx.prefix}/regression.md", "\n".join(body))
    for n in notes:
        log.info("%s", n)
    if findings:
        raise RegressionError(f"{ctx.benchmark}: {len(findings)} regression(s) beyond week-to-week noise "
                              f"({header}):\n  - " + "\n  - ".join(lines))
    return {"status": "pass", "findings": [], "notes": notes, "earlier_runs": len(history.runs) - 1}
