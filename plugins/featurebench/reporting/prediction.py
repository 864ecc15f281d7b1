"""The report's "Predicted vs measured" section: the preflight's prediction.parquet beside the measurement.

Ratio = measured / predicted, per arm, load point and metric. On hardware it says how far the simulator is off;
on the local platform the measured side is the scaled-down mocker run, so the ratio mostly shows the scale-down.
"""

from __future__ import annotations

import html

SHOWN = [("ttft", "p50"), ("ttft", "p90"), ("itl", "mean"), ("request_latency", "p50"), ("output_tps", "value"),
         ("goodput_rps", "value"), ("output_tps_per_gpu", "value"), ("output_tps_per_user", "mean")]


def measured_values(result) -> dict[tuple[str, str, str, str], float]:
    """(arm, point, metric, stat) -> the measured value the comparison shows (control and treatments)."""
    out = {}
    for r in result.table.itertuples():
        out[(result.control, r.point, r.metric, r.stat)] = r.control
        out[(r.treatment, r.point, r.metric, r.stat)] = r.treatment_value
    return out


def rows(prediction, result, platform: str) -> list[list[str]]:
    """One row per predicted (arm, metric) that was also measured; points match by label, except that a local
    run's scaled-down load point is set beside the arm's full-size one (the report says so)."""
    from featurebench.analysis.metrics import metric_name

    measured = measured_values(result)
    local_points = {(arm, point) for arm, point, _, _ in measured}
    out = []
    for p in prediction.itertuples():
        if (p.metric, p.stat) not in SHOWN:
            continue
        points = [p.point] if (p.arm, p.point) in local_points or platform != "local" else sorted(
            pt for arm, pt in local_points if arm == p.arm)
        for point in points:
            value = measured.get((p.arm, point, p.metric, p.stat))
            ratio = value / p.value if value is not None and p.value and value == value else None
            out.append([p.arm, p.point if point == p.point else f"{p.point} / {point}", metric_name(p.metric, p.stat),
                        p.unit, _fmt(p.value), _fmt(value), "-" if ratio is None else f"{ratio:.2f}"])
    return out


def _fmt(x) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"


HEADER = ["arm", "point (predicted / measured)", "metric", "unit", "predicted", "measured", "measured / predicted"]


def section(store, run_prefix: str, result, platform: str, not_modelled: dict[str, list[str]] | None = None
            ) -> tuple[str, list[list[str]], str] | None:
    """(note, table rows under HEADER, html) of the section, or None when the run has no prediction.parquet. `not_modelled`: arm ->
    what neither the prediction nor the local simulation models (featurebench.spec.simulator.not_modelled)."""
    key = f"{run_prefix}/prediction.parquet"
    if not store.exists(key):
        return None
    table = store.read_table(key)
    timing = (table.schema.metadata or {}).get(b"featurebench.prediction_timing", b"").decode() or "unknown timing"
    body = rows(table.to_pandas(), result, platform)
    note = (f"Preflight prediction ({timing}, offline replay of the full-size traffic on the full-size arms) next "
            "to this run's measurement. ")
    if platform == "local":
        note += ("This run is the scaled-down local simulation (fewer workers, a shorter trace, a smaller KV cache), "
                 "so the ratio shows the scale-down as much as the simulator; on hardware it is the prediction error.")
    lost = [f"NOT MODELLED ({arm}): {', '.join(items)}." for arm, items in (not_modelled or {}).items() if items]
    note += " ".join([""] + lost)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    page = (f"<h2>Predicted vs measured</h2><p>{html.escape(note)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    return note, body, page
