"""The flat parity view of an arm's load pod (load.run.*, load.warmup.*, load.env.*, load.packages.*, load.ulimit.*,
load.pod.*; see featurebench.recipes.parity): AIPerf's flags in canonical form, on our load Job and on upstream's
perf Job alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from featurebench.recipes.parity_shell import run_recorded, ulimits
from featurebench.recipes.parity_views import env_map, flatten, pinned_selector, pod_affinity, tolerations_view
from featurebench.settings import REPO_ROOT

AIPERF_ALIASES = {
    "-m": "--model", "-u": "--url", "--ui": "--ui-type", "--profile-export-level": "--export-level",
    "--synthetic-input-tokens-mean": "--isl", "--synthetic-input-tokens-stddev": "--isl-stddev",
    "--prompt-input-tokens-mean": "--isl", "--output-tokens-mean": "--osl", "--output-tokens-stddev": "--osl-stddev",
    "--num-requests": "--request-count", "--num-warmup-requests": "--warmup-request-count", "-H": "--header",
    "--max-workers": "--workers-max", "--record-processor-service-count": "--record-processors",
    "--custom-endpoint": "--endpoint", "--output-artifact-dir": "--artifact-dir", "--num-prompts": "--num-dataset-entries",
    "--arrival-pattern": "--request-rate-mode", "--synthetic-input-tokens-block-size": "--isl-block-size",
}
AIPERF_SWITCHES = {"--streaming", "--fixed-schedule", "--no-fixed-schedule", "--tokenizer-trust-remote-code",
                   "--use-server-token-count", "--export-http-trace", "--no-gpu-telemetry", "--ignore-trace-delays"}
AIPERF_REPEATED = {"--extra-inputs", "--header", "--server-metrics", "--url"}
# AIPerf's defaults (aiperf.md): a flag set to its default is the same as the flag left out.
AIPERF_DEFAULTS = {"--endpoint-type": "chat", "--endpoint": "/v1/chat/completions", "--export-level": "records",
                   "--isl-block-size": "512"}
# Where the run puts its files and how it draws its console: plumbing, not what is measured.
AIPERF_PLUMBING = {"--artifact-dir", "--ui-type"}


def aiperf_flags(argv: list[str], *, tokenizer_root: str | None = None) -> dict[str, Any]:
    """`aiperf profile ...` argv -> {canonical flag: value | True | sorted list of values}."""
    args = argv[2:] if argv[:2] == ["aiperf", "profile"] else argv
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        flag = AIPERF_ALIASES.get(args[i], args[i])
        i += 1
        values = []
        while flag not in AIPERF_SWITCHES and i < len(args) and not re.match(r"^-[-A-Za-z]", args[i]):
            values.append(args[i])
            i += 1
        if flag in AIPERF_REPEATED:
            out[flag] = sorted([*out.get(flag, []), *values])
        else:
            out[flag] = values[0] if len(values) == 1 else (values or "true")
    for flag in AIPERF_PLUMBING:
        out.pop(flag, None)
    for flag, default in AIPERF_DEFAULTS.items():
        if out.get(flag) == default:
            del out[flag]
    if "--warmup-concurrency" in out and out["--warmup-concurrency"] == out.get("--concurrency"):
        del out["--warmup-concurrency"]  # AIPerf's warmup concurrency defaults to the run's
    if "--url" in out:  # each side's own frontend Service: only the scheme and port can differ
        out["--url"] = [re.sub(r"^(https?://)?[^:/]+", "<the arm's frontend>", u) for u in out["--url"]]
    tok = out.get("--tokenizer", "")
    snap = re.fullmatch(r".*/models--([^/]+)--([^/]+)/snapshots/([0-9a-f]+)/?", tok)
    if snap:  # a snapshot folder of the HF cache is that model at that revision
        out["--tokenizer"] = f"{snap.group(1)}/{snap.group(2)}"
        out["--tokenizer-revision"] = snap.group(3)
    if out.get("--tokenizer") == out.get("--model"):  # AIPerf's tokenizer defaults to the model's
        del out["--tokenizer"]
    if "--input-file" in out:
        out["--input-file"] = Path(out["--input-file"]).name
    return out


def _packages(pip_calls: list[list[str]]) -> dict[str, str]:
    out = {}
    for argv in pip_calls:
        for arg in argv:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)(==|>=|~=)?(\S+)?", arg)
            if m and not arg.startswith("-") and arg != "install":
                out[m.group(1).lower()] = f"{m.group(2) or ''}{m.group(3) or ''}" or "unpinned"
    return out


def load_view(*, pod: dict, calls: list[tuple[list[str], dict]], env: dict[str, Any], packages: dict[str, str],
              limits: dict[str, list[str]], own: set[str], pin: str | None) -> dict[str, Any]:
    """The load pod: placement, AIPerf's env, packages, limits and its aiperf runs (the last is the measured one)."""
    out: dict[str, Any] = {}
    runs = [aiperf_flags(argv) for argv, _ in calls if argv[:2] == ["aiperf", "profile"]]
    if runs:
        flatten(runs[-1], "load.run", out)
        for warmup in runs[:-1]:
            flatten(warmup, "load.warmup", out)
    flatten({k: v for k, v in env.items() if k.startswith("AIPERF_")}, "load.env", out)
    flatten(packages, "load.packages", out)
    flatten(limits, "load.ulimit", out)
    placement = {"affinity": pod_affinity(pod.get("affinity"), own), "nodeSelector": pinned_selector(pod.get("nodeSelector"), pin),
                 "tolerations": tolerations_view(pod.get("tolerations"))}
    flatten(placement, "load.pod", out)
    return {k: v for k, v in out.items() if v not in ({}, [], None)}


def upstream_load_view(doc: dict, own: set[str], pin: str | None) -> dict[str, Any]:
    """Upstream's perf Job/Pod: its container script run with stand-ins."""
    pod = doc["spec"]["template"]["spec"] if doc["kind"] == "Job" else doc["spec"]
    (container,) = pod["containers"]
    # values from the downward API are unknown here: their names stand in for them
    env = {k: v if isinstance(v, str) else f"<{k}>" for k, v in env_map(container.get("env")).items()}
    argv = [*container.get("command", []), *container.get("args", [])]
    calls = run_recorded(argv[2], env, argv[3:])
    packages = _packages([c[0][2:] for c in calls if c[0][0] in ("pip", "pip3")])
    limits = ulimits(calls)
    aiperf_env = {k: v for c in calls if c[0][:2] == ["aiperf", "profile"] for k, v in c[1].items()}
    return load_view(pod=pod, calls=calls, env={**aiperf_env, **env}, packages=packages, limits=limits, own=own,
                     pin=pin)


def our_load_view(job: dict, packages: dict[str, str], own: set[str], pin: str | None) -> dict[str, Any]:
    """Our load Job: `fb-load -- <aiperf warmup> -- <aiperf measured>` (fb-load runs them in order)."""
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    argv = container["command"]
    commands, current = [], None
    for arg in argv[1:]:
        if arg == "--":
            current = []
            commands.append(current)
        else:
            current.append(arg)
    env = {k: v for k, v in env_map(container.get("env")).items() if isinstance(v, str)}
    return load_view(pod=pod, calls=[(c, env) for c in commands], env=env, packages=packages, limits={}, own=own,
                     pin=pin)


def image_packages(dockerfile: Path = REPO_ROOT / "docker" / "aiperf" / "Dockerfile") -> dict[str, str]:
    """The Python packages the load image pins: its `ARG <NAME>_VERSION=` defaults."""
    out = {}
    for m in re.finditer(r"^ARG ([A-Z0-9_]+)_VERSION=(\S+)", dockerfile.read_text(), re.M):
        out[m.group(1).lower().replace("_", "-")] = f"=={m.group(2)}"
    return out
