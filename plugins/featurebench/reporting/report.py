"""The comparison report: Markdown and one self-contained HTML page (plots embedded as base64 PNG).

Order follows what a reader needs, as on Dynamo's benchmark pages: the question and the verdict first, then the
setup card and the arms side by side (featurebench.reporting.arm_setup), the metrics with intervals, the distributions,
the Pareto frontier, the load-generator health, and last the versions.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from typing import Any

import numpy as np

from featurebench.analysis.compare import ComparisonResult
from featurebench.analysis.metrics import metric_name
from featurebench.reporting.arm_setup import Setup, describe, setup_html, setup_markdown
from featurebench.reporting.plots import plot_deltas, plot_distributions, plot_pareto

SIMULATION_BANNER = ("Local run on the Dynamo mocker (no GPUs). These numbers test the pipeline; "
                     "they are not hardware results.")
_VERDICT_WORDS = {"better": "better", "worse": "worse", "no_change": "no detectable change",
                  "mixed": "mixed (some primary metrics better, some worse)"}


def simulated_from(provenance: dict[str, dict[str, str]]) -> bool | None:
    """True/False from the Parquet metadata of the trials; None when it does not say."""
    flags = {meta.get("featurebench.simulated") for meta in provenance.values()} - {None}
    if "true" in flags:
        return True  # one simulated arm makes the whole comparison a simulation
    return False if flags == {"false"} else None


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    if isinstance(x, (float, np.floating)):
        return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def _pct(x: float) -> str:
    return "-" if x is None or np.isnan(x) else f"{x:+.1f}%"


def _metric_rows(result: ComparisonResult) -> list[list[str]]:
    rows = []
    for r in result.table.itertuples():
        ci = "-" if np.isnan(r.ci_low) else f"[{r.ci_low:+.1f}%, {r.ci_high:+.1f}%]"
        name = metric_name(r.metric, r.stat) + (" *" if r.primary else "")
        rows.append([r.point, r.treatment, name, r.unit, r.better, _fmt(r.control), _fmt(r.treatment_value),
                     _pct(r.delta_pct), ci, _VERDICT_WORDS[r.verdict], f"{r.n_trials} ({r.method})"])
    return rows


_METRIC_HEADER = ["point", "treatment", "metric", "unit", "better", "control", "treatment value", "delta",
                  "CI", "verdict", "trials (interval from)"]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_markdown(result: ComparisonResult) -> str:
    return _md_table(_METRIC_HEADER, _metric_rows(result))


def _validity_rows(result: ComparisonResult) -> list[list[str]]:
    return [[r.arm, r.point, str(r.trial), "VALID" if r.valid else "INVALID", str(r.requests), str(r.errors),
             r.reasons or "-"] for r in result.validity.itertuples()]


def _pareto_rows(result: ComparisonResult) -> list[list[str]]:
    return [[r.arm, r.point, _fmt(r.output_tps_per_user), _fmt(r.output_tps_per_gpu), "yes" if r.on_frontier else ""]
            for r in result.pareto.itertuples()]


def _frontier_sentences(result: ComparisonResult) -> list[str]:
    out = []
    for r in result.frontier.itertuples():
        if r.treatment_dominates:
            out.append(f"{r.treatment}'s frontier dominates {result.control}'s.")
        elif r.control_dominates:
            out.append(f"{result.control}'s frontier dominates {r.treatment}'s.")
        else:
            out.append(f"Neither frontier dominates ({r.treatment} vs {result.control}): they cross or coincide.")
    return out


# --------------------------------------------------------------------------------------------- render


def _verdict_lines(result: ComparisonResult) -> list[str]:
    overall = result.overall()
    lines = []
    for treatment, v in overall.items():
        lines.append(f"{treatment} vs {result.control}: {_VERDICT_WORDS[v]}")
    return lines


def render_report(
    result: ComparisonResult,
    *,
    title: str,
    question: str,
    simulated: bool | None,
    provenance: dict[str, dict[str, str]] | None = None,
    setup: Setup | None = None,
    versions: dict[str, str] | None = None,
    notes: list[str] | None = None,
    unmodelled: list[str] | None = None,
    trends: tuple[str, bytes | None] | None = None,
    prediction: tuple[str, str] | None = None,
    timing: str | None = None,
) -> tuple[str, str]:
    """(markdown, html) of the report; the PNGs are embedded in the HTML and returned separately by `plots`."""
    plots = {"deltas": plot_deltas(result), "distributions": plot_distributions(result),
             "pareto": plot_pareto(result)}
    extra = _unmodelled_line(unmodelled) if simulated else ""
    md = _markdown(result, title, question, simulated, provenance, setup, versions, notes, extra)
    page = _html(result, title, question, simulated, provenance, setup, versions, notes, plots, extra)
    if timing and simulated:  # where the simulated timing came from (featurebench.spec.simulator.timing_source)
        md = md.replace(SIMULATION_BANNER, f"{SIMULATION_BANNER} Timing: {timing}.", 1)
        page = page.replace(html.escape(SIMULATION_BANNER), html.escape(f"{SIMULATION_BANNER} Timing: {timing}."), 1)
    if prediction:  # the preflight's prediction beside the measurement (featurebench.reporting.prediction)
        md = md.rstrip("\n") + "\n\n" + prediction[0] + "\n"
        page = page.replace("</body></html>", prediction[1] + "</body></html>")
    if trends:  # history of this benchmark from the results store (featurebench.analysis.trends)
        md = md.rstrip("\n") + "\n\n" + trends[0]
        image = f'<img alt="trends" src="data:image/png;base64,{base64.b64encode(trends[1]).decode()}">' if trends[1] else ""
        section = f"<h2>Trends</h2>{image}<pre>{html.escape(trends[0])}</pre>"
        page = page.replace("</body></html>", section + "</body></html>")
    return md, page


def _banner(simulated: bool | None) -> str:
    if simulated:
        return SIMULATION_BANNER
    if simulated is None:
        return "Platform not recorded (compared from artifact directories): check where these numbers came from."
    return "Hardware run (Kubernetes)."


def _values_note(result: ComparisonResult) -> str:
    """Which aggregate the control and treatment columns show (compare.AGGREGATE_*), per trial count."""
    shown = sorted({(int(r.n_trials), r.aggregate) for r in result.table.itertuples() if r.aggregate})
    if not shown:
        return ""
    parts = [f"{a} ({n} trial{'s' if n != 1 else ''} per arm)" for n, a in shown]
    return ("Control and treatment values: " + "; ".join(parts) + " (a trial's statistic is the number AIPerf reports "
            "for that trial; time slices only ever give the interval). ")


def _method_note(result: ComparisonResult) -> str:
    return _values_note(result) + (
            f"Intervals: {result.confidence:.0%} Welch t intervals over trials (the trial is the unit of replication) "
            f"on the ratio of arm means. A change is called only when the interval excludes 0 and reaches beyond "
            f"the practical threshold of {result.threshold_pct:g}%. 'time-slices': one trial per arm, its time "
            f"windows stand in for trials, so the interval ignores run-to-run variation. 'none': no interval could "
            f"be given. 'invalid': every trial failed the load-generator health check. * = primary metric.")


def _unmodelled_line(arms: list[str] | None) -> str:
    if not arms:
        return ""
    return (f"NOT SIMULATED: the local mocker does not model the feature of {', '.join(arms)}; these numbers check "
            "the pipeline end to end, not the feature's effect.")


def _markdown(result, title, question, simulated, provenance, setup, versions, notes, extra="") -> str:
    parts = [f"# {title}", ""]
    if simulated is not False:
        parts += [f"> **{'SIMULATION' if simulated else 'UNKNOWN PLATFORM'}**: {_banner(simulated)}", ""]
    else:
        parts += [f"> {_banner(simulated)}", ""]
    if extra:
        parts += [f"> **{extra}**", ""]
    parts += [f"**Question:** {question}", "", "## Verdict", ""]
    parts += [f"- **{line}**" for line in _verdict_lines(result)] + [""]
    parts += _frontier_sentences(result) + [""]
    if setup:  # right after the verdict, as on Dynamo's benchmark pages: what was compared, then the numbers
        parts += [setup_markdown(setup)]
    parts += ["## Metrics", "", metrics_markdown(result), "", _method_note(result)]
    parts += ["", "## Pareto frontier (tokens/s per GPU vs tokens/s per user)", "",
              _md_table(["arm", "point", "tokens/s/user", "tokens/s/GPU", "on frontier"], _pareto_rows(result)),
              "", "Plots: see report.html (deltas, latency distributions, Pareto).", "",
              "## Load-generator health (VALID / INVALID)", "",
              _md_table(["arm", "point", "trial", "status", "requests", "errors", "reasons"], _validity_rows(result))]
    parts += ["", "## Trace and tool versions", ""]
    parts += [f"- {k}: `{v}`" for k, v in (versions or {}).items()]
    for arm, meta in (provenance or {}).items():
        parts += [f"- {arm}: " + ", ".join(f"{k.removeprefix('featurebench.')}=`{v}`" for k, v in sorted(meta.items()))]
    if notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(parts) + "\n"


def _html_table(header: list[str], rows: list[list[str]], verdict_col: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cls = ""
        if verdict_col is not None:
            cls = {"better": "better", "worse": "worse"}.get(row[verdict_col], "")
        elif "INVALID" in row:
            cls = "worse"
        body.append(f'<tr class="{cls}">' + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}
td:nth-child(-n+3){text-align:left}
tr.better td{background:#e6f4e6}tr.worse td{background:#fbe4e4}
.banner{padding:14px;font-size:20px;font-weight:bold;border-radius:6px;margin-bottom:16px}
.sim{background:#c00;color:#fff}.unknown{background:#f0ad4e;color:#000}.hw{background:#e8f0fe}
.card{background:#f3f6fb;border:1px solid #d6deeb;border-radius:6px;padding:10px 14px;margin:8px 0}
.card div{margin:3px 0}table.arms td,table.arms th{text-align:left;vertical-align:top;max-width:420px}
.verdict{font-size:18px}pre{background:#f7f7f7;padding:8px;font-size:11px;overflow:auto}
img{max-width:100%;border:1px solid #eee}
"""


def _html(result, title, question, simulated, provenance, setup, versions, notes, plots, extra="") -> str:
    esc = html.escape
    cls = "sim" if simulated else "unknown" if simulated is None else "hw"
    label = "SIMULATION" if simulated else "UNKNOWN PLATFORM" if simulated is None else "HARDWARE"
    img = {k: f'<img alt="{k}" src="data:image/png;base64,{base64.b64encode(v).decode()}">' for k, v in plots.items()}
    verdict_col = _METRIC_HEADER.index("verdict")
    words = {v: k for k, v in _VERDICT_WORDS.items()}
    metric_rows = [[*r[:verdict_col], words.get(r[verdict_col], r[verdict_col]), *r[verdict_col + 1:]]
                   for r in _metric_rows(result)]
    body = [
        f'<div class="banner {cls}" id="platform">{label}: {esc(_banner(simulated))}</div>',
        f'<div class="banner sim" id="not-simulated">{esc(extra)}</div>' if extra else "",
        f"<h1>{esc(title)}</h1>",
        f"<p><b>Question:</b> {esc(question)}</p>",
        "<h2>Verdict</h2>",
        *[f'<p class="verdict"><b>{esc(line)}</b></p>' for line in _verdict_lines(result)],
        *[f"<p>{esc(s)}</p>" for s in _frontier_sentences(result)],
        img["deltas"],
        setup_html(setup) if setup else "",
        "<h2>Metrics</h2>",
        _html_table(_METRIC_HEADER, metric_rows, verdict_col),
        f"<p><small>{esc(_method_note(result))}</small></p>",
        "<h2>TTFT and ITL distributions per arm</h2>", img["distributions"],
        "<h2>Pareto frontier</h2>", img["pareto"],
        _html_table(["arm", "point", "tokens/s/user", "tokens/s/GPU", "on frontier"], _pareto_rows(result)),
        "<h2>Load-generator health (VALID / INVALID)</h2>",
        _html_table(["arm", "point", "trial", "status", "requests", "errors", "reasons"], _validity_rows(result)),
        "<h2>Trace and tool versions</h2><ul>",
        *[f"<li>{esc(k)}: <code>{esc(str(v))}</code></li>" for k, v in (versions or {}).items()],
        *[f"<li>{esc(arm)}: " + ", ".join(f"{esc(k.removeprefix('featurebench.'))}=<code>{esc(v)}</code>"
                                           for k, v in sorted(meta.items())) + "</li>"
          for arm, meta in (provenance or {}).items()],
        "</ul>",
        *(["<h2>Notes</h2><ul>", *[f"<li>{esc(n)}</li>" for n in notes], "</ul>"] if notes else []),
    ]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(label)}: {esc(title)}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def _trends(store, benchmark: str, run: dict | None) -> tuple[str, bytes | None]:
    """The benchmark's history on the same platform and GPU type, up to this run's date."""
    from featurebench.analysis.trends import trends_section

    run = run or {}
    try:
        return trends_section(store, benchmark, platform=run.get("platform"), gpu_type=run.get("gpu_type"),
                              until=run.get("date"))
    except Exception as exc:  # noqa: BLE001 - the A/B result must still be reported; say plainly what is missing
        return f"## Trends\n\n_Trends unavailable: {type(exc).__name__}: {exc}_\n", None


def _prediction_section(section) -> tuple[str, str] | None:
    """(markdown, html) of featurebench.reporting.prediction's section."""
    if section is None:
        return None
    from featurebench.reporting.prediction import HEADER

    note, rows, page = section
    return "\n".join(["## Predicted vs measured", "", note, "", _md_table(HEADER, rows)]), page


def write_report(store, run_prefix: str, result: ComparisonResult, resolved_spec, run: dict | None = None) -> dict:
    """Write report.md, report.html and the PNGs beside the run's results; returns {name: key}."""
    spec = resolved_spec.spec
    simulated = run.get("simulated") if run else None
    if simulated is None:
        simulated = simulated_from(result.provenance)
    versions = {"spec version": resolved_spec.version.version, "spec sha256": resolved_spec.source_sha256,
                "image tag": (run or {}).get("image_tag") or resolved_spec.version.image_tag,
                "platform": (run or {}).get("platform", "see metadata")}
    notes = [f"{a.name}: {spec.local_arm(a.name).note}" for a in spec.arms if spec.local_arm(a.name).note]
    notes += list(spec.notes)
    unmodelled = [a.name for a in spec.arms if not spec.local_arm(a.name).simulated]
    trends = _trends(store, spec.id, run)
    from featurebench.reporting import prediction as prediction_report
    from featurebench.spec import simulator

    platform = (run or {}).get("platform", "local")
    setup = describe(spec, run)
    if not store.exists(f"{run_prefix}/manifests.yaml"):  # a local run deploys processes and renders none
        setup = dataclasses.replace(setup, manifests=None)
    md, page = render_report(result, title=spec.title, question=spec.question, simulated=simulated,
                             provenance=result.provenance, setup=setup, versions=versions, notes=notes,
                             unmodelled=unmodelled, trends=trends,
                             prediction=_prediction_section(prediction_report.section(
                                 store, run_prefix, result, platform,
                                 {a.name: simulator.not_modelled(spec, a.name) for a in spec.arms})),
                             timing=simulator.timing_source(spec) if platform == "local" else None)
    keys = {"md": store.write_text(f"{run_prefix}/report.md", md),
            "html": store.write_text(f"{run_prefix}/report.html", page)}
    for name, fn in (("deltas", plot_deltas), ("distributions", plot_distributions), ("pareto", plot_pareto)):
        keys[name] = store.write_bytes(f"{run_prefix}/{name}.png", fn(result))
    if trends[1]:
        keys["trends"] = store.write_bytes(f"{run_prefix}/trends.png", trends[1])
    return keys
