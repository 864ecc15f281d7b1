"""Shell scripts of a recipe (upstream's perf.yaml, a `bash -lc` container command, our `ulimit` wrapper), run by
bash with recording stand-ins on PATH instead of parsed: bash itself does quoting, `$VAR` expansion, loops and
arithmetic, and the calls the script would make come back as argv lists (featurebench.recipes.parity)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

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


def ulimits(calls: list[tuple[list[str], dict]]) -> dict[str, list[str]]:
    """The `ulimit` calls a script made: {flag: values}."""
    return {argv[1]: argv[2:] for argv, _ in calls if argv[0] == "ulimit"}


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
        limits = ulimits(calls)
        programs = [c[0] for c in calls if c[0][0] != "ulimit"]
        argv = programs[-1] if programs else argv
    return canonical_argv(list(argv)), limits
