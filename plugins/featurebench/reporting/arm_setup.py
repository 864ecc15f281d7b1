"""The report's "Benchmark setup" card and "Compared configurations" table, as Dynamo's benchmark pages show
them: what every arm shares once, then one column per arm with only the rows where the arms differ. The
full manifests (manifests.yaml, stored with each run) are one link away.
"""

from __future__ import annotations

import dataclasses
import html


@dataclasses.dataclass
class Setup:
    card: list[tuple[str, str]]  # (label, text) of the setup card
    arms: list[str]  # column headers, "name (role)"
    descriptions: list[str]  # one per arm
    rows: list[tuple[str, list[str]]]  # (aspect, value per arm): only aspects that differ
    manifests: str | None = "manifests.yaml"  # beside the report


def _workers(deploy) -> str:
    parts = []
    for w in deploy.workers:
        shape = f"TP{w.tp}" + (f" EP{w.ep}" if w.ep > 1 else "") + (" attention-DP" if w.attention_dp else "")
        nodes = f" ({w.nodes_per_replica} nodes each)" if w.nodes_per_replica > 1 else ""
        parts.append(f"{w.replicas} {w.role} x {shape}{nodes}")
    return " + ".join(parts)


def _pd_split(deploy) -> str:
    count = {r: sum(w.replicas for w in deploy.workers if w.role == r) for r in ("agg", "prefill", "decode")}
    if not count["prefill"] and not count["decode"]:
        return "aggregated"
    return f"disaggregated {count['prefill']}P + {count['decode']}D"


# Flags that only restate a row of their own (workers x TP, P/D split, runtime) or a config file's path.
_SHAPE_FLAGS = {"--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size", "--extra-engine-args",
                "--disaggregation-mode", "--host", "--port", "--model", "engine_config.tensor_parallel_size",
                "engine_config.moe_expert_parallel_size", "engine_config.enable_attention_dp"}


def _flag_values(arm) -> dict[str, str]:
    """Engine and frontend flags of an arm, TRT-LLM engine-config keys and environment variables, each with the
    value(s) it takes (several when the arm's workers differ)."""
    found: dict[str, set[str]] = {}

    def scan(args: list[str], where: str) -> None:
        for i, token in enumerate(args):
            if token.startswith("--"):
                flag, _, inline = token.partition("=")
                nxt = args[i + 1] if i + 1 < len(args) else ""
                found.setdefault(f"{where}{flag}", set()).add(inline or ("" if nxt.startswith("--") else nxt))

    deploy = arm.deploy
    scan(deploy.frontend_args, "frontend ")
    envs = [deploy.env, deploy.frontend_env]
    for w in deploy.workers:
        scan(w.args, "")
        envs.append(w.env)
        for key, value in (w.engine_config or {}).items():
            found.setdefault(f"engine_config.{key}", set()).add(repr(value))
    for env in envs:
        for key, value in env.items():
            found.setdefault(key, set()).add(value)
    return {k: "|".join(sorted(v)) for k, v in found.items() if k not in _SHAPE_FLAGS}


def _flag_text(name: str, value: str) -> str:
    short = value and len(value) <= 24 and not value.startswith(("{", "[", "'{", "'["))
    return f"{name}={value}" if short else name


def _feature_flags(arms) -> list[str]:
    """What each treatment turns on, off or changes relative to the control (the first arm)."""
    base = _flag_values(arms[0])
    out = ["(baseline)"]
    for arm in arms[1:]:
        mine = _flag_values(arm)
        changes = [("+ " if n not in base else "~ ") + _flag_text(n, v) for n, v in sorted(mine.items())
                   if base.get(n) != v]
        changes += [f"- {n}" for n in sorted(set(base) - set(mine))]
        out.append(", ".join(changes) or "same as control")
    return out


def _concurrency(spec, arm, platform: str) -> str:
    if spec.load_section(platform)[1].mode == "fixed_schedule":
        return "trace schedule (open loop)"
    points = spec.load_points(arm, platform=platform)
    return ", ".join(p.removeprefix("c") for p in points)


def _local_workers(spec, arm) -> str:
    local = spec.local_arm(arm.name)
    text = " + ".join(f"{w.count} {w.role}" for w in local.workers) + " mocker worker(s)"
    return text if local.simulated else text + " (feature not modelled)"


def describe(spec, run: dict | None = None) -> Setup:
    """The card and the table for this run's arms (all arms of the spec when no run is given)."""
    run = run or {}
    platform = run.get("platform", "local")
    names = run.get("arms") or [a.name for a in spec.arms]
    arms = [spec.arm(n) for n in names]
    aspects = {
        "router mode": [spec.router_mode(a.name, platform) for a in arms],
        "workers x TP": [_workers(a.deploy) for a in arms],
        "P/D split": [_pd_split(a.deploy) for a in arms],
        "feature flags (vs control)": _feature_flags(arms),
        "GPUs": [str(a.gpus) for a in arms],
        "concurrency": [_concurrency(spec, a, platform) for a in arms],
        "runtime": [f"{a.deploy.backend}" + (" (vllm serve)" if a.deploy.kind == "vllm-serve" else " (Dynamo)")
                    for a in arms],
        "image": [a.deploy.image for a in arms],
    }
    if platform == "local":
        aspects["local simulation"] = [_local_workers(spec, a) for a in arms]
    rows = [(k, v) for k, v in aspects.items() if len(set(v)) > 1]
    same = [k for k, v in aspects.items() if len(set(v)) == 1]

    traffic, load, _ = spec.load_section(platform)
    trials = run.get("trials") or spec.default_trials(platform)
    gpu = run.get("gpu_type") or spec.hardware.gpu
    hardware = f"{spec.hardware.gpus} x {gpu}" + (f" ({spec.hardware.nodes} nodes)" if spec.hardware.nodes > 1 else "")
    if platform == "local":
        hardware += " as published; this run: Dynamo mocker on this machine (simulation)"
    metrics = ", ".join(spec.comparison.primary_metrics)
    if spec.goodput:
        metrics += f"; goodput at TTFT {spec.goodput.ttft_ms:g} ms / ITL {spec.goodput.itl_ms:g} ms"
    held = [f"model {spec.model.hf_id}", "the traffic and its schedule", f"{trials} trial(s) per load point"]
    held += [f"{k} {aspects[k][0]}" for k in same if k not in ("image", "feature flags (vs control)")]
    card = [
        ("Model", spec.model.hf_id),
        ("Hardware", hardware),
        ("Workload", f"{traffic.description.rstrip('.')} ({'fixed-schedule replay' if load.mode == 'fixed_schedule' else 'closed loop'})"),
        ("Metrics", metrics),
        ("Held constant", "; ".join(held)),
    ]
    return Setup(card=card, arms=[f"{a.name} ({a.role})" for a in arms], descriptions=[a.description for a in arms],
                 rows=rows)


def setup_markdown(setup: Setup) -> str:
    lines = ["## Benchmark setup", ""] + [f"- **{label}**: {text}" for label, text in setup.card]
    lines += ["", "## Compared configurations", "", "| | " + " | ".join(setup.arms) + " |",
              "|---|" + "---|" * len(setup.arms), "| what | " + " | ".join(setup.descriptions) + " |"]
    lines += [f"| {aspect} | " + " | ".join(values) + " |" for aspect, values in setup.rows]
    if setup.manifests:
        lines += ["", f"Full manifests of every arm: [{setup.manifests}]({setup.manifests})"]
    return "\n".join(lines) + "\n"


def setup_html(setup: Setup) -> str:
    esc = html.escape
    card = "".join(f"<div><b>{esc(label)}</b> {esc(text)}</div>" for label, text in setup.card)
    head = "<th></th>" + "".join(f"<th>{esc(a)}</th>" for a in setup.arms)
    body = "<tr><th>what</th>" + "".join(f"<td>{esc(d)}</td>" for d in setup.descriptions) + "</tr>"
    body += "".join(f"<tr><th>{esc(k)}</th>" + "".join(f"<td>{esc(v)}</td>" for v in vals) + "</tr>"
                    for k, vals in setup.rows)
    link = (f'<p><a id="manifests" href="{esc(setup.manifests)}">Full manifests of every arm ({esc(setup.manifests)})'
            "</a></p>") if setup.manifests else ""
    return (f'<h2>Benchmark setup</h2><div class="card" id="setup">{card}</div>'
            f'<h2>Compared configurations</h2><table class="arms" id="arms"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{link}")
