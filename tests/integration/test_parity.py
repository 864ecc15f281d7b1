"""Parity with Dynamo's published recipes: every arm as `render` makes it, field by field against upstream's
deploy.yaml / perf.yaml (featurebench.recipes.parity). A difference must be fixed or declared (spec parity.deviations,
include/recipes/deviations.yaml); a declaration that matches nothing is stale and fails too."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

from featurebench.recipes import parity, parity_load, parity_shell
from featurebench.settings import PIN_HOSTNAME_ENV, REPO_ROOT
from featurebench.spec import SpecFile, load_all

ROOT = parity.upstream_root()
needs_upstream = pytest.mark.skipif(
    not (ROOT / "recipes").is_dir(),
    reason=f"upstream recipe copies not found at {ROOT} (set {parity.UPSTREAM_ENV} to their folder)")

SPECS, ERRORS = load_all()
ARMS = [(sid, arm.name) for sid, sf in sorted(SPECS.items()) for arm in sf.latest.spec.arms]


@cache
def differences(benchmark: str, arm: str) -> list[parity.Difference]:
    return parity.arm_differences(SPECS[benchmark].latest, arm)


@pytest.fixture(autouse=True)
def pinned_node(monkeypatch):
    # upstream pins qwen3.6's pods to one hostname; here the operator's configured node stands in for it
    monkeypatch.setenv(PIN_HOSTNAME_ENV, "gpu-node-1")


def test_every_arm_is_mapped_to_its_upstream_files():
    assert not ERRORS
    assert len(ARMS) == 16
    for sid, sf in SPECS.items():
        spec = sf.latest.spec
        assert spec.parity is not None, f"{sid}: no parity section"
        assert set(spec.parity.arms) == {a.name for a in spec.arms}


@needs_upstream
@pytest.mark.parametrize(("benchmark", "arm"), ARMS, ids=[f"{b}/{a}" for b, a in ARMS])
def test_arm_matches_upstream_or_declares_why_not(benchmark, arm):
    spec = SPECS[benchmark].latest.spec
    left = parity.undeclared(spec, arm, differences(benchmark, arm))
    assert not left, f"{benchmark}/{arm}: {len(left)} undeclared difference(s) from upstream:\n  " + "\n  ".join(
        map(str, left))


@needs_upstream
@pytest.mark.parametrize("benchmark", sorted(SPECS))
def test_no_stale_declarations(benchmark):
    resolved = SPECS[benchmark].latest
    by_arm = {a.name: differences(benchmark, a.name) for a in resolved.spec.arms}
    assert parity.stale(resolved.spec, by_arm) == [], f"{benchmark}: declared deviations that match no difference"


@needs_upstream
def test_an_undeclared_difference_fails_naming_benchmark_arm_and_field(tmp_path):
    source = SPECS["kimi-k2-5-feature-stack"].path.read_text()
    broken = source.replace("            trust_remote_code: true\n", "", 1)  # the agg arms' engine config
    assert broken != source
    path = tmp_path / "kimi-k2-5-feature-stack.yaml"
    path.write_text(broken)
    resolved = SpecFile(path).latest
    left = parity.undeclared(resolved.spec, "agg-round-robin", parity.arm_differences(resolved, "agg-round-robin"))
    assert [str(d) for d in left] == ['engine.agg.yaml.trust_remote_code: ours <absent> | upstream "true"']


def test_shell_scripts_are_run_by_bash_with_recording_stand_ins():
    script = """set -euo pipefail
ulimit -n 600000
pip install "aiperf==0.10.0"
[ -f /no/such/trace ] || exit 1
for C in 2 4; do
  aiperf profile -m "${MODEL}" --goodput "time_to_first_token:${T} inter_token_latency:5" --request-count $((10*C))
done
tmux send-keys -t b "aiperf profile --url http://${HOST}:8000 --goodput \\"a:1 b:2\\"" C-m
"""
    calls = parity_shell.run_recorded(script, {"MODEL": "org/m", "T": "500", "HOST": "fe", "AIPERF_X": "1"})
    argvs = [c[0] for c in calls]
    assert argvs[0] == ["ulimit", "-n", "600000"]
    assert argvs[1] == ["pip", "install", "aiperf==0.10.0"]
    assert argvs[2][:4] == ["aiperf", "profile", "-m", "org/m"] and argvs[2][5] == "time_to_first_token:500 inter_token_latency:5"
    assert [a[-1] for a in argvs[2:4]] == ["20", "40"]
    assert ["aiperf", "profile", "--url", "http://fe:8000", "--goodput", "a:1 b:2"] in argvs
    assert calls[2][1] == {"AIPERF_X": "1"}


def test_normalisation_is_only_what_is_equivalent():
    a = parity_load.aiperf_flags(["aiperf", "profile", "-m", "x/y", "--tokenizer", "x/y", "--ui", "dashboard",
                                  "--profile-export-level", "records", "--extra-inputs", "b:1", "--extra-inputs", "a:2",
                                  "--concurrency", "8", "--warmup-concurrency", "8", "--artifact-dir", "/tmp/a"])
    assert a == {"--model": "x/y", "--extra-inputs": ["a:2", "b:1"], "--concurrency": "8"}
    b = parity_load.aiperf_flags(["aiperf", "profile", "--model", "x/y", "--export-level", "raw",
                                  "--warmup-concurrency", "1", "--concurrency", "8"])
    assert b["--export-level"] == "raw" and b["--warmup-concurrency"] == "1"  # not the defaults: kept
    assert parity_shell.canonical_argv(["python3", "-m", "dynamo.frontend", "--router-mode", "round-robin", "--b", "1",
                                        "--a"]) == ["python3", "-m", "dynamo.frontend", "--a", "--b", "1"]
    repeated = ["vllm", "serve", "--x", "2", "--y", "--x", "1"]
    assert parity_shell.canonical_argv(repeated) == repeated  # a repeated flag: order may matter, kept
    argv, limits = parity_shell.effective_exec(["/bin/sh", "-c", 'ulimit -l unlimited && exec "$@"', "sh", "vllm",
                                                "serve", "--n", "$(N)"], {"N": "3"})
    assert argv == ["vllm", "serve", "--n", "3"] and limits == {"-l": ["unlimited"]}


def test_same_node_without_a_pinned_host_keeps_the_pods_together(monkeypatch):
    from featurebench import recipes

    monkeypatch.delenv(PIN_HOSTNAME_ENV)
    resolved = SPECS["qwen3-6-35b-feature-stack"].latest
    run = recipes.preview_run(resolved, arms=["dynamo-fd"])
    docs = recipes.render_deployment(resolved, "dynamo-fd", run)
    job = recipes.render_load_job(resolved, "dynamo-fd", run, run.points["dynamo-fd"][0], 1)
    (dgd,) = [d for d in docs if d["kind"] == "DynamoGraphDeployment"]
    pods = [s["extraPodSpec"] for s in dgd["spec"]["services"].values()] + [job["spec"]["template"]["spec"]]
    for pod in pods:
        (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"] == run.labels("dynamo-fd")
    monkeypatch.setenv(PIN_HOSTNAME_ENV, "h100-7")
    docs = recipes.render_deployment(resolved, "dynamo-fd", run)
    (dgd,) = [d for d in docs if d["kind"] == "DynamoGraphDeployment"]
    assert {s["extraPodSpec"]["nodeSelector"]["kubernetes.io/hostname"] for s in dgd["spec"]["services"].values()} == {
        "h100-7"}


def test_upstream_root_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv(parity.UPSTREAM_ENV, raising=False)
    assert parity.upstream_root() == Path(REPO_ROOT).parent / "shared" / "reference" / "upstream"
    monkeypatch.setenv(parity.UPSTREAM_ENV, str(tmp_path))
    assert parity.upstream_root() == tmp_path
    assert os.environ[parity.UPSTREAM_ENV] == str(tmp_path)


def test_docs_list_every_declared_deviation():
    text = (Path(REPO_ROOT) / "docs" / "KUBERNETES.md").read_text()
    for sid, sf in SPECS.items():
        section = text.split(f"`{sid}` (spec `parity.deviations`)")[1].split("\n`")[0]
        for dev in sf.latest.spec.parity.deviations:
            assert f"| `{dev.path}` |" in section, f"docs/KUBERNETES.md does not list {sid}'s deviation {dev.path}"
    import yaml

    for dev in yaml.safe_load(parity.PROJECT_DEVIATIONS.read_text())["deviations"]:
        assert f"| `{dev['path']}` |" in text, f"docs/KUBERNETES.md does not list the deviation {dev['path']}"
