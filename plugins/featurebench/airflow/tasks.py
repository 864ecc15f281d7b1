"""What each task of a benchmark DAG does, as plain functions of plain values.

dag_builder wires these into a DAG; keeping them free of Airflow objects makes them easy to read and to
test. Every function re-resolves the spec from the run's logical date and checks the file did not change
during the run, so all tasks of one run use one configuration.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from featurebench.layout import safe_run_id
from featurebench.run import RunContext
from featurebench.settings import results_root
from featurebench.spec import ResolvedSpec, SpecError, load_spec
from featurebench.spec.params import validate_params

log = logging.getLogger(__name__)


def _run_date(logical_date: dt.datetime | None, run_after: dt.datetime | None) -> dt.date:
    # Manual runs in Airflow 3 may have no logical date; they then use the time they were queued for.
    when = logical_date or run_after or dt.datetime.now(dt.UTC)
    return when.date()


def resolve_config(
    benchmark: str,
    params: dict,
    airflow_run_id: str,
    logical_date: dt.datetime | None,
    run_after: dt.datetime | None = None,
) -> dict:
    """First task: the configuration in force on the run's date + the form's overrides, and every manifest
    rendered and validated up front, so a bad spec or value fails before any GPU is touched."""
    day = _run_date(logical_date, run_after)
    spec_file = load_spec(benchmark)
    resolved = spec_file.resolve(day)
    p = validate_params(resolved, params)
    spec = resolved.spec
    local = p["platform"] == "local"
    trials = p["trials"] or spec.default_trials(p["platform"])
    points = {
        a: (p["load_points"] or spec.load_points(spec.arm(a), platform=p["platform"])) for a in p["arms"]
    }
    run = RunContext(
        benchmark=benchmark,
        run_id=safe_run_id(airflow_run_id),
        date=day.isoformat(),
        platform=p["platform"],
        arms=p["arms"],
        points=points,
        trials=trials,
        spec_version=resolved.version.version,
        spec_sha256=resolved.source_sha256,
        image_tag=p["image_tag"] or resolved.version.image_tag,
        gpu_type=p["gpu_type"],
        results_root=results_root(),
        dry_run=p["dry_run"],
        simulated=local,
    )
    # A local run deploys no manifest: rendering them would only add failure modes (cluster settings) it never
    # uses. A dry run renders them on either platform, since checking them is what it is for.
    manifests = _render_all(resolved, run) if not local or run.dry_run else []
    log.info(
        "%s: version %s (in force on %s), platform %s, arms %s, points %s, %d trial(s), image tag %s, %d manifests",
        benchmark, run.spec_version, day, run.platform, run.arms, points, trials, run.image_tag, len(manifests),
    )
    if manifests:
        _store(run).write_text(f"{run.prefix}/manifests.yaml", _yaml_documents(manifests))
    # run.json: the resolved configuration of this run, readable without Airflow (backfills, trends, audits)
    _store(run).write_text(f"{run.prefix}/run.json", json.dumps(run.to_dict(), indent=2, sort_keys=True))
    return run.to_dict()


def _render_all(resolved: ResolvedSpec, run: RunContext) -> list[dict]:
    from featurebench.recipes import render_arm

    manifests: list[dict] = []
    for arm in run.arms:
        manifests.extend(render_arm(resolved, arm, run, platform="kubernetes"))
    return manifests


def _yaml_documents(manifests: list[dict]) -> str:
    import yaml

    return yaml.safe_dump_all(manifests, sort_keys=False)


def _store(run: RunContext):
    from featurebench.results.store import Store

    return Store.from_uri(run.results_root)


def resolved_for(run: RunContext) -> ResolvedSpec:
    """The same configuration resolve_config chose; refuses to go on if the spec file changed meanwhile."""
    resolved = load_spec(run.benchmark).resolve(dt.date.fromisoformat(run.date))
    if resolved.source_sha256 != run.spec_sha256:
        raise SpecError(
            f"include/benchmarks/{run.benchmark}.yaml changed during run {run.run_id}; "
            "re-run it so all arms use one configuration"
        )
    return resolved


def plan_arm(run_dict: dict, arm: str) -> list[dict]:
    """Setup task of an arm: cheap and unlikely to fail, so the arm's teardown always gets to run.
    Returns the (load point, trial) jobs of the arm."""
    run = RunContext.from_dict(run_dict)
    run.work_dir.mkdir(parents=True, exist_ok=True)
    return [{"point": p, "trial": t} for p in run.points[arm] for t in range(1, run.trials + 1)]


def provision(run_dict: dict, arm: str) -> dict:
    from featurebench.platforms import get_platform

    run = RunContext.from_dict(run_dict)
    return get_platform(run.platform).provision(run, resolved_for(run), arm)


def wait_ready(run_dict: dict, arm: str, endpoint: dict) -> dict:
    from featurebench.platforms import get_platform

    run = RunContext.from_dict(run_dict)
    return get_platform(run.platform).wait_ready(run, resolved_for(run), arm, endpoint)


def run_load(run_dict: dict, arm: str, endpoint: dict, job: dict) -> dict:
    """One load point x trial: AIPerf, then its records into the store. Re-running overwrites the same keys."""
    from featurebench.platforms import get_platform

    run = RunContext.from_dict(run_dict)
    artifacts = get_platform(run.platform).run_load(run, resolved_for(run), arm, endpoint, job["point"], job["trial"])
    return ingest_load(run_dict, arm, job, artifacts)


def ingest_load(run_dict: dict, arm: str, job: dict, artifacts) -> dict:
    """The second half of run_load (also what RunLoadOperator does after a deferred wait): the AIPerf artifact
    folder's records into the store."""
    from featurebench.results.ingest import store_trial

    run = RunContext.from_dict(run_dict)
    return store_trial(_store(run), run, resolved_for(run), arm, job["point"], job["trial"], artifacts)


def teardown(run_dict: dict, arm: str) -> list[str]:
    from featurebench.platforms import get_platform

    run = RunContext.from_dict(run_dict)
    removed = get_platform(run.platform).teardown(run, arm)
    log.info("teardown of %s/%s removed %d object(s): %s", run.run_id, arm, len(removed), removed)
    return removed


def predict(run_dict: dict) -> dict:
    """Preflight, before anything is deployed: the simulator's prediction of every arm of this run on the spec's
    hardware, stored as prediction.parquet. Advisory: a simulator failure is logged and the run goes on."""
    from featurebench import settings
    from featurebench.analysis.predict import PredictError, write_prediction
    from featurebench.analysis.predict import predict as run_predict

    if not settings.preflight_enabled():
        log.warning("preflight skipped: FEATUREBENCH_PREFLIGHT=off; the report has no prediction")
        return {"skipped": "FEATUREBENCH_PREFLIGHT=off"}
    run = RunContext.from_dict(run_dict)
    resolved = resolved_for(run)
    try:
        prediction = run_predict(resolved, run.arms, log=log.info)
    except (PredictError, OSError, ValueError) as exc:
        log.error("preflight prediction failed; the run goes on without it: %s", exc)
        return {"error": str(exc)}
    meta = {"featurebench.spec_version": run.spec_version, "featurebench.spec_sha256": run.spec_sha256,
            "featurebench.run_id": run.run_id}
    key = write_prediction(_store(run), run.prefix, prediction, meta) if len(prediction.arms) else None
    verdicts = prediction.comparison.overall() if prediction.comparison is not None else {}
    log.info("preflight (%s): predicted verdicts %s; not predicted: %s", prediction.timing, verdicts,
             prediction.skipped or "none")
    return {"timing": prediction.timing, "verdicts": verdicts, "skipped": prediction.skipped, "key": key}


def compare(run_dict: dict) -> dict:
    """A/B statistics from the stored per-request Parquet alone (so `featurebench compare` can redo it)."""
    from featurebench.analysis.compare import compare_run

    run = RunContext.from_dict(run_dict)
    result = compare_run(_store(run), run.prefix, resolved_for(run))
    return result.overall()


def report(run_dict: dict) -> dict:
    """report.md / report.html / PNGs beside the results, and a short headline for logs and the CLI."""
    from featurebench.analysis.compare import compare_run
    from featurebench.reporting.report import write_report

    run = RunContext.from_dict(run_dict)
    resolved = resolved_for(run)
    store = _store(run)
    result = compare_run(store, run.prefix, resolved, write=False)
    keys = write_report(store, run.prefix, result, resolved, run=run.to_dict())
    text = headline(result, resolved, run)
    store.write_text(f"{run.prefix}/headline.txt", text)
    log.info("%s\nreport: %s", text, store.uri(keys["html"]) if "html" in keys else keys)
    return {"verdicts": result.overall(), "report": store.uri(f"{run.prefix}/report.html")}


def headline(result, resolved: ResolvedSpec, run: RunContext) -> str:
    """The primary metrics of each treatment vs the control, one line each."""
    from featurebench.analysis.metrics import metric_name

    spec = resolved.spec
    lines = [
        f"{spec.title} — {'SIMULATION (local mocker), not hardware numbers' if run.simulated else run.gpu_type}",
        f"control: {result.control}; {int(result.confidence * 100)}% intervals; "
        f"changes under {result.threshold_pct:g}% count as no change",
    ]
    table = result.table
    for treatment, verdict in result.overall().items():
        lines.append(verdict_line(result, treatment, verdict))
        for _, row in table[(table.treatment == treatment) & table.primary].iterrows():
            if row.delta_pct != row.delta_pct:  # NaN: no value for this metric
                continue
            ci = "" if row.ci_low != row.ci_low else f" [{row.ci_low:+.1f}%, {row.ci_high:+.1f}%]"
            lines.append(
                f"  {row.point:>8} {metric_name(row.metric, row.stat):<22} {row.control:>10.4g} -> {row.treatment_value:<10.4g} "
                f"{row.unit:<8} {row.delta_pct:+6.1f}%{ci} {row.verdict}"
            )
    return "\n".join(lines)


def verdict_line(result, treatment: str, verdict: str) -> str:
    """`<treatment>: <VERDICT>`, and on the same line why there is no verdict, or why it rests on less than
    the trials that ran: INVALID trials (left out), or no interval possible."""
    rows = result.table[(result.table.treatment == treatment) & result.table.primary]
    methods = set(rows.method)
    v = result.validity
    invalid = v[~v.valid.astype(bool) & v.arm.isin([result.control, treatment])]
    left_out = "; ".join(f"{r.arm} {r.point} trial {r.trial}: {r.reasons}" for r in invalid.itertuples())
    if methods == {"invalid"}:
        return f"{treatment}: NO VERDICT (every trial of an arm is INVALID: {left_out})"
    notes = []
    if "none" in methods:
        notes.append("no interval possible: one trial per arm, too short to split into time slices")
    elif "time-slices" in methods:
        notes.append("one trial per arm: time slices of it stand in for trials")
    if left_out:
        notes.append(f"INVALID, left out: {left_out}")
    return f"{treatment}: {verdict.upper()}" + (f" ({'; '.join(notes)})" if notes else "")


def regression_check(run_dict: dict) -> dict:
    from featurebench.analysis.regression import regression_check as check

    run = RunContext.from_dict(run_dict)
    return check(_store(run), run_dict, resolved_for(run))
