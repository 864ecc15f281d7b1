"""Parity with Dynamo's published recipes: what `render` produces next to upstream's deploy.yaml and perf.yaml.

Both sides are reduced to the same flat view, `{field path: value}`, and compared path by path:

  dgd.<field>                     DGD-level fields (envs, pvcs, backendFramework)
  svc.<Service>.<field>           one pod of the arm (DGD service, or the vllm-serve Deployment as `vllm`):
                                  exec (the program's argv), ulimit, env.<NAME>, mounts.<path>, security.<...>,
                                  resources.<...>, nodeSelector.<key>, tolerations, affinity, <probe>.<...>,
                                  replicas, nodeCount, componentType, ... and any field not named here, raw
  engine.<file>.<key>             the engine config files (ConfigMap data)
  load.run.<flag>                 the measured `aiperf profile` (canonical flag names)
  load.warmup.<flag>              a separate warmup `aiperf profile` run before it, if any
  load.env.<AIPERF_*>             AIPerf's environment;  load.packages.<name>  pinned Python packages
  load.ulimit.<flag>, load.pod.<field>   the load pod's limits and placement

Shell scripts (upstream's perf.yaml, a `bash -lc` container command, our `ulimit` wrapper) are not parsed: they
are run by bash with recording stand-ins on PATH (aiperf, pip, vllm, python3, curl, ...) and `ulimit`/`exit` as
functions, so bash itself does quoting, `$VAR` expansion, loops and arithmetic. Normalised as equivalent, and
nothing else: env order and env layers (service envs vs container env), quoting and `$(VAR)` expansion,
pod- vs container-level securityContext, Kubernetes and AIPerf defaults (`DEFAULTS`), AIPerf flag aliases,
naming plumbing (object names, labels, image tags, ConfigMap and claim-template names, artifact paths).

A difference is `(path, ours, upstream)`; `undeclared()` drops those a spec's `parity.deviations` (or the
project-wide include/recipes/deviations.yaml) declares, and `stale()` lists declarations that match nothing.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from featurebench import settings
from featurebench.settings import RECIPES_DIR, REPO_ROOT
from featurebench.spec import BenchmarkSpec

UPSTREAM_ENV = settings.UPSTREAM_ENV
PROJECT_DEVIATIONS = RECIPES_DIR / "deviations.yaml"
MISSING = "<absent>"


def upstream_root() -> Path:
    """Where the verbatim upstream copies are: $FEATUREBENCH_UPSTREAM_DIR, else ../shared/reference/upstream."""
    return settings.upstream_dir()


@dataclass(frozen=True)
class Difference:
    path: str
    ours: Any
    upstream: Any

    def __str__(self) -> str:
        return f"{self.path}: ours {_show(self.ours)} | upstream {_show(self.upstream)}"


def _show(value: Any) -> str:
    return MISSING if value is MISSING else json.dumps(value, ensure_ascii=False)


# ------------------------------------------------------------------------------------- shell stand-ins

# Programs the scripts call that must not run here; each records its argv (and AIPerf's env) instead.
STAND_INS = ["aiperf", "pip", "pip3", "python", "python3", "vllm", "curl", "wget", "jq", "sleep", "sysctl", "tmux",
             "apt", "apt-get", "mkdir", "ls", "rm", "cp", "tee", "touch", "git", "kubectl", "hf", "huggingface-cli"]
_STUB = r"""#!/bin/sh
name=$(basename "$0")
{ printf '%s\037' "$name" "$@"; printf '\035'; env | grep '^AIPERF_' | tr '\n' '\037'; printf '\036'; } >> "$FB_PARITY_LOG"
if [ "$name" = tmux ] && [ "$1" = send-keys ]; then exec bash -c "$4"; fi
exit 0
"""
# bash reads BASH_ENV first: the builtins that would fail or change this machine are recorded or ignored.
_BASH_ENV = r"""
ulimit() { { printf 'ulimit\037'; printf '%s\037' "$@"; printf '\035\036'; } >> "$FB_PARITY_LOG"; }
exit() { :; }
set() {  # -e and -u dropped: a missing trace file or an unset downward-API value must not end the script here
  local args=() a
  for a in "$@"; do
    if [[ $a == -[a-z]* ]]; then a=${a//e/}; a=${a//u/}; [[ $a == - ]] && continue; fi
    args+=("$a")
  done
  builtin set "${args[@]}"
}
"""


def run_recorded(script: str, env: dict[str, str], args: list[str] | None = None) -> list[tuple[list[str], dict]]:
    """Run a shell script under bash with the stand-ins; the calls it made, in order: ([name, *args], AIPERF env)."""
    with tempfile.TemporaryDirectory(prefix="fb-parity-") as tmp:
        bin_dir = Path(tmp) / "bin"
        bin_dir.mkdir()
        for name in STAND_INS:
            (bin_dir / name).write_text(_STUB)
            (bin_dir / name).chmod(0o755)
        (Path(tmp) / "env.sh").write_text(_BASH_ENV)
        log = Path(tmp) / "calls"
        log.touch()
        run_env = {**env, "PATH": f"{bin_dir}:/usr/bin:/bin", "BASH_ENV": str(Path(tmp) / "env.sh"),
                   "FB_PARITY_LOG": str(log), "HOME": tmp}
        subprocess.run(["bash", "-c", script, *(args or ["sh"])], env=run_env, cwd=tmp, timeout=60,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        calls = []
        for record in log.read_text().split("\036"):
            if not record:
                continue
            argv, _, env_part = record.partition("\035")
            call_env = dict(e.split("=", 1) for e in env_part.split("\037") if "=" in e)
            calls.append((argv.split("\037")[:-1], call_env))
        return calls


SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/bash"}


# Defaults of the programs the pods run: a flag at its default is the same as the flag left out.
PROGRAM_DEFAULTS = {"dynamo.frontend": {"--router-mode": ["round-robin"]}}


def canonical_argv(argv: list[str]) -> list[str]:
    """argv with its `--flag values...` groups in flag order (argparse does not care, unless a flag repeats)
    and flags at the program's default dropped."""
    first = next((i for i, a in enumerate(argv) if a.startswith("--")), len(argv))
    head, groups = argv[:first], []
    for arg in argv[first:]:
        if arg.startswith("--"):
            groups.append([arg])
        else:
            groups[-1].append(arg)
    defaults = next((d for prog, d in PROGRAM_DEFAULTS.items() if prog in head), {})
    groups = [g for g in groups if defaults.get(g[0]) != g[1:]]
    if len({g[0] for g in groups}) == len(groups):
        groups.sort(key=lambda g: g[0])
    return [*head, *(a for g in groups for a in g)]


def effective_exec(argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    """The program a container really runs and the ulimits set on the way: a `sh -c` wrapper is run recorded."""
    limits: dict[str, list[str]] = {}
    # Kubernetes expands $(VAR) in command and args from the container's env before anything runs
    argv = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in argv]
    if len(argv) >= 3 and argv[0] in SHELLS and argv[1] in ("-c", "-lc"):
        calls = run_recorded(argv[2], env, argv[3:])
        limits = {c[0][1]: c[0][2:] for c in calls if c[0][0] == "ulimit"}
        programs = [c[0] for c in calls if c[0][0] != "ulimit"]
        argv = programs[-1] if programs else argv
    return canonical_argv(list(argv)), limits


# ----------------------------------------------------------------------------------------- flattening


def flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    """Nested mappings as dotted paths; lists and scalars are leaves (scalars as YAML-equivalent strings)."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}.{key}", out)
    elif value is not None and value != {} and value != []:
        out[prefix] = _scalar(value)
    return out


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    if isinstance(value, dict):
        return {k: _scalar(v) for k, v in value.items()}
    return value


def _env_map(items: list[dict] | None) -> dict[str, Any]:
    out = {}
    for item in items or []:
        out[item["name"]] = str(item["value"]) if "value" in item else {"valueFrom": item.get("valueFrom")}
    return out


# Kubernetes defaults: a field set to its default is the same as the field left out.
K8S_DEFAULTS = {"imagePullPolicy": "IfNotPresent", "restartPolicy": "Always", "name": "", "protocol": "TCP"}
PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3,
                  "successThreshold": 1}


def _mounts(mounts: list[dict], volumes: dict[str, dict]) -> dict[str, str]:
    """mountPath -> what is mounted there (PVC claim / sub-path, a ConfigMap, a memory emptyDir), names dropped."""
    out = {}
    for m in mounts:
        path = m.get("mountPath") or m.get("mountPoint")
        vol = volumes.get(m["name"], {"persistentVolumeClaim": {"claimName": m["name"]}})  # DGD: name is the PVC
        if "persistentVolumeClaim" in vol:
            what = f"pvc:{vol['persistentVolumeClaim']['claimName']}" + (f"/{m['subPath']}" if m.get("subPath") else "")
        elif "configMap" in vol:
            what = "configMap"
        elif "emptyDir" in vol:
            e = vol["emptyDir"] or {}
            what = f"emptyDir:{e.get('medium', '')}:{e.get('sizeLimit', '')}"
        else:
            what = json.dumps(vol, sort_keys=True)
        out[path] = what + (":ro" if m.get("readOnly") else "") + (":compilation-cache" if m.get("useAsCompilationCache") else "")
    return out


def _node_selector(selector: dict | None, pin: str | None) -> dict:
    """A hostname pin to our configured node or to upstream's fill-in placeholder is the same: one pinned node."""
    selector = dict(selector or {})
    host = selector.get("kubernetes.io/hostname")
    if host is not None and (host == pin or re.fullmatch(r"<FILL-IN-[A-Z0-9]+-HOSTNAME>", host)):
        selector["kubernetes.io/hostname"] = "<one pinned node>"
    return selector


def _affinity(affinity: dict | None, own: set[str]) -> Any:
    """Pod (anti-)affinity with selectors that name the arm's own pods written as '<arm>'."""
    if not affinity:
        return None
    text = json.dumps(affinity, sort_keys=True)
    out = json.loads(text)
    for kind in out.values():
        for terms in kind.values():
            for term in terms:
                t = term.get("podAffinityTerm", term)
                sel = json.dumps(t.get("labelSelector", {}))
                if any(name in sel for name in own):
                    t["labelSelector"] = "<the arm's pods>"
    return out


def pod_view(prefix: str, *, pod: dict, container: dict, service: dict, own: set[str], pin: str | None,
             out: dict, base_env: dict | None = None) -> None:
    """One pod of the arm under `prefix`: service-level fields, the pod spec and its main container. base_env:
    the DGD's spec.envs, which the operator gives every service (below the service's own)."""
    pod, container, service = dict(pod), dict(container), dict(service)
    for key in ("containers",):  # DGD `containers: null`
        if pod.get(key) is None:
            pod.pop(key, None)
    volumes = {v["name"]: v for v in pod.pop("volumes", []) or []}
    env = {**(base_env or {}), **_env_map(service.pop("envs", None)), **_env_map(container.pop("env", None))}
    argv, limits = effective_exec([*container.pop("command", []), *container.pop("args", [])],
                                  {k: v if isinstance(v, str) else f"<{k}>" for k, v in env.items()})
    view: dict[str, Any] = {"exec": argv, "ulimit": limits, "env": env}
    mounts = [*service.pop("volumeMounts", []), *container.pop("volumeMounts", [])]
    view["mounts"] = _mounts(mounts, volumes)
    security = {**(pod.pop("securityContext", None) or {}), **(container.pop("securityContext", None) or {})}
    view["security"] = security
    image = container.pop("image", "")
    view["image"] = re.sub(r":[^/:]+$", "", image)
    resources = service.pop("resources", None) or {}
    for key, value in (container.pop("resources", None) or {}).items():
        resources[key] = {**resources.get(key, {}), **value} if isinstance(value, dict) else value
    resources.pop("claims", None)
    for key, value in (resources.get("limits") or {}).items():  # an extended resource's request defaults to its limit
        if "gpu" in key and str((resources.get("requests") or {}).get(key)) == str(value):
            del resources["requests"][key]
    view["resources"] = resources
    view["claims"] = sorted(c["name"] for c in pod.pop("resourceClaims", []) or [])
    view["nodeSelector"] = _node_selector(pod.pop("nodeSelector", None), pin)
    view["tolerations"] = {f"{t.get('key', '')}={t.get('value', '')}:{t.get('effect', '')}": t.get("operator", "Equal")
                           for t in pod.pop("tolerations", None) or []}
    view["affinity"] = _affinity(pod.pop("affinity", None), own)
    if "multinode" in service:
        view["nodeCount"] = service.pop("multinode").get("nodeCount")
    if "sharedMemory" in service:
        view["sharedMemory"] = (service.pop("sharedMemory") or {}).get("size")
    for key in ("ports",):
        container.pop(key, None)
    view.update({k: v for k, v in service.items()})
    for key in [k for k in container if k.endswith("Probe")]:
        view[key] = {k: v for k, v in container.pop(key).items() if PROBE_DEFAULTS.get(k) != v}
    view["pod"] = {k: v for k, v in pod.items() if K8S_DEFAULTS.get(k, object()) != v}
    view["container"] = {k: v for k, v in container.items() if K8S_DEFAULTS.get(k, object()) != v}
    flatten(view, prefix, out)


def deployment_view(docs: list[dict], *, own: set[str], pin: str | None = None) -> dict[str, Any]:
    """The flat view of an arm's serving manifests (DGD + ConfigMap, or vllm-serve Deployment)."""
    out: dict[str, Any] = {}
    for doc in docs:
        kind = doc.get("kind")
        if kind == "DynamoGraphDeployment":
            spec = dict(doc["spec"])
            spec.pop("labels", None)
            out["dgd.backendFramework"] = spec.pop("backendFramework", MISSING)
            if out["dgd.backendFramework"] is MISSING:
                del out["dgd.backendFramework"]
            base_env = _env_map(spec.pop("envs", None))
            out["dgd.pvcs"] = sorted(f"{p['name']}:create={str(p.get('create', False)).lower()}"
                                     for p in spec.pop("pvcs", []) or [])
            for name, svc in spec.pop("services").items():
                svc = dict(svc)
                extra = dict(svc.pop("extraPodSpec", None) or {})
                main = extra.pop("mainContainer", None) or {}
                pod_view(f"svc.{name}", pod=extra, container=main, service=svc, own=own, pin=pin, out=out,
                         base_env=base_env)
            flatten(spec, "dgd", out)
        elif kind == "ConfigMap":
            for key, text in (doc.get("data") or {}).items():
                flatten(yaml.safe_load(text), f"engine.{key}", out)
        elif kind == "Deployment":
            tmpl = doc["spec"]["template"]["spec"]
            (container,) = tmpl["containers"]
            pod = {k: v for k, v in tmpl.items() if k != "containers"}
            dep = {k: v for k, v in doc["spec"].items() if k in ("replicas", "progressDeadlineSeconds", "strategy")}
            pod_view("svc.vllm", pod=pod, container=container, service=dep, own=own, pin=pin,
                     out=out)
    return {k: v for k, v in out.items() if v not in ({}, [], None)}


# ------------------------------------------------------------------------------------------------ load

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
    placement = {"affinity": _affinity(pod.get("affinity"), own), "nodeSelector": _node_selector(pod.get("nodeSelector"), pin),
                 "tolerations": {f"{t.get('key', '')}={t.get('value', '')}:{t.get('effect', '')}": t.get("operator", "Equal")
                                 for t in pod.get("tolerations") or []}}
    flatten(placement, "load.pod", out)
    return {k: v for k, v in out.items() if v not in ({}, [], None)}


def upstream_load_view(doc: dict, own: set[str], pin: str | None) -> dict[str, Any]:
    """Upstream's perf Job/Pod: its container script run with stand-ins."""
    pod = doc["spec"]["template"]["spec"] if doc["kind"] == "Job" else doc["spec"]
    (container,) = pod["containers"]
    # values from the downward API are unknown here: their names stand in for them
    env = {k: v if isinstance(v, str) else f"<{k}>" for k, v in _env_map(container.get("env")).items()}
    argv = [*container.get("command", []), *container.get("args", [])]
    calls = run_recorded(argv[2], env, argv[3:])
    packages = _packages([c[0][2:] for c in calls if c[0][0] in ("pip", "pip3")])
    limits = {c[0][1]: c[0][2:] for c in calls if c[0][0] == "ulimit"}
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
    env = {k: v for k, v in _env_map(container.get("env")).items() if isinstance(v, str)}
    return load_view(pod=pod, calls=[(c, env) for c in commands], env=env, packages=packages, limits={}, own=own,
                     pin=pin)


def image_packages(dockerfile: Path = REPO_ROOT / "docker" / "aiperf" / "Dockerfile") -> dict[str, str]:
    """The Python packages the load image pins: its `ARG <NAME>_VERSION=` defaults."""
    out = {}
    for m in re.finditer(r"^ARG ([A-Z0-9_]+)_VERSION=(\S+)", dockerfile.read_text(), re.M):
        out[m.group(1).lower().replace("_", "-")] = f"=={m.group(2)}"
    return out


# ------------------------------------------------------------------------------------------- upstream


def _substitute(text: str, env_file: Path | None) -> str:
    """envsubst with an upstream hw/*.env file (`export K='V'` lines), as upstream's wrapper does."""
    if env_file is None:
        return text
    values = {}
    for line in env_file.read_text().splitlines():
        parts = shlex.split(line, comments=True)
        if parts[:1] == ["export"] and "=" in parts[1]:
            key, value = parts[1].split("=", 1)
            values[key] = value
    return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def load_upstream(path: Path, env_file: Path | None = None) -> list[dict]:
    return [d for d in yaml.safe_load_all(_substitute(path.read_text(), env_file)) if isinstance(d, dict)]


# -------------------------------------------------------------------------------------------- compare


def diff(ours: dict[str, Any], upstream: dict[str, Any]) -> list[Difference]:
    out = []
    for path in sorted(set(ours) | set(upstream)):
        a, b = ours.get(path, MISSING), upstream.get(path, MISSING)
        if a != b:
            out.append(Difference(path, a, b))
    return out


def declared(spec: BenchmarkSpec) -> list[tuple[str, str, list[str]]]:
    """(path pattern, reason, arms) from the spec's parity.deviations and the project-wide list."""
    project = yaml.safe_load(PROJECT_DEVIATIONS.read_text()) or {}
    items = [*project.get("deviations", []), *[d.model_dump() for d in (spec.parity.deviations if spec.parity else [])]]
    return [(d["path"], d["reason"], d.get("arms") or []) for d in items]


def _declares(pattern: str, arms: list[str], arm: str, path: str) -> bool:
    return (not arms or arm in arms) and fnmatch.fnmatchcase(path, pattern)


def undeclared(spec: BenchmarkSpec, arm: str, diffs: list[Difference]) -> list[Difference]:
    decl = declared(spec)
    return [d for d in diffs if not any(_declares(p, arms, arm, d.path) for p, _, arms in decl)]


def stale(spec: BenchmarkSpec, diffs_by_arm: dict[str, list[Difference]]) -> list[str]:
    """Spec declarations that match no difference in any arm (a fixed difference must lose its declaration)."""
    own = spec.parity.deviations if spec.parity else []
    return [d.path for d in own if not any(_declares(d.path, d.arms, arm, x.path)
                                            for arm, diffs in diffs_by_arm.items() for x in diffs)]


def arm_differences(resolved, arm_name: str, root: Path | None = None) -> list[Difference]:
    """Every difference between one arm as `render` makes it and its upstream deploy + perf files."""
    from featurebench.recipes.load_job import render_load_job
    from featurebench.recipes.render import preview_run, render_deployment

    spec = resolved.spec
    root = root or upstream_root()
    up = spec.parity.arms[arm_name]
    env_file = root / up.env_file if up.env_file else None
    upstream_deploy = load_upstream(root / up.deploy, env_file)
    (upstream_perf,) = [d for d in load_upstream(root / up.perf, env_file) if d.get("kind") in ("Job", "Pod")]
    run = preview_run(resolved, arms=[arm_name])
    ours_deploy = render_deployment(resolved, arm_name, run)
    point = run.points[arm_name][0]
    job = render_load_job(resolved, arm_name, run, point, 1)
    names = {d["metadata"]["name"] for d in upstream_deploy if d.get("kind") in ("DynamoGraphDeployment", "Deployment")}
    own = {*names, "featurebench/arm", *(d["metadata"]["name"] for d in ours_deploy)}
    pin = settings.pin_hostname()
    ours = {**deployment_view(ours_deploy, own=own, pin=pin), **our_load_view(job, image_packages(), own, pin)}
    theirs = {**deployment_view(upstream_deploy, own=own, pin=pin), **upstream_load_view(upstream_perf, own, pin)}
    return diff(ours, theirs)
