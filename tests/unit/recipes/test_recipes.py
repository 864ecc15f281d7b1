"""Rendered manifests: schema-valid, labelled, named within limits, secret-free, and failing loudly when broken.

Core kinds are checked with kubernetes-validate; DynamoGraphDeployments with jsonschema against the CRD's
openAPIV3Schema (shared/reference/crds, both operator generations), plus the checks a JSON schema cannot do
(unknown fields, CEL rules); ComputeDomain by hand (its CRD comes from the NVIDIA DRA driver, not here).
"""

from __future__ import annotations

import re
import shutil
from functools import cache

import jsonschema
import kubernetes_validate
import pytest
import yaml

from featurebench import recipes
from featurebench.cli.render import render_cli
from featurebench.recipes import RecipeError, preview_run, render_run, render_template, validate_overrides
from featurebench.spec import REPO_ROOT, load_all, load_spec

REFERENCE = REPO_ROOT.parent / "shared" / "reference"  # ../shared/reference from the repo root
CRD_ERAS = ["v1.3.0-era", "head"]
K8S_VERSION = "1.33"
CORE_APIS = {"v1", "apps/v1", "batch/v1"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

SPECS, SPEC_ERRORS = load_all()


def _variants():
    """Every (benchmark, version date, GPU type) a run can render."""
    for sid, spec_file in sorted(SPECS.items()):
        for version in spec_file.spec.versions:
            for gpu in spec_file.spec.hardware.gpu_types:
                yield sid, version.effective_from, gpu


VARIANTS = list(_variants())


@cache
def rendered(sid: str, day=None, gpu: str | None = None) -> list[dict]:
    spec_file = SPECS[sid]
    resolved = spec_file.resolve(day) if day else spec_file.latest
    return render_run(resolved, preview_run(resolved, gpu_type=gpu, day=day))


def all_docs():
    for sid, day, gpu in VARIANTS:
        for doc in rendered(sid, day, gpu):
            yield sid, doc


def of_kind(kind: str):
    return [(sid, d) for sid, d in all_docs() if d["kind"] == kind]


@cache
def dgd_schema(era: str) -> dict:
    path = REFERENCE / "crds" / era / "nvidia.com_dynamographdeployments.yaml"
    if not path.exists():
        pytest.skip(f"CRD schema not available: {path} (shared/reference is absent)")
    with path.open() as f:  # 1.6 MB: the C loader takes ~0.3 s instead of ~1.3 s
        docs = [d for d in yaml.load_all(f, Loader=yaml.CSafeLoader) if d]
    crd = next(d for d in docs if d.get("kind") == "CustomResourceDefinition")
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return version["schema"]["openAPIV3Schema"]


def unknown_fields(value, schema: dict, path: str = "") -> list[str]:
    """Keys the schema does not declare (the API server would prune or reject them; jsonschema lets them pass)."""
    problems: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
            for key, sub in value.items():
                if key not in props:
                    problems.append(f"{path}.{key}")
                else:
                    problems += unknown_fields(sub, props[key], f"{path}.{key}")
        elif isinstance(schema.get("additionalProperties"), dict):
            for key, sub in value.items():
                problems += unknown_fields(sub, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problems += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return problems


# ------------------------------------------------------------------------------------------ specs/pools


def test_every_spec_loads():
    assert SPEC_ERRORS == {}
    assert len(SPECS) == 6


def test_pools_cover_every_benchmark():
    pools = recipes.load_pools()
    for sid, spec_file in SPECS.items():
        spec = spec_file.spec
        for gpu in spec.hardware.gpu_types:
            name = spec.hardware.pool_for(gpu)
            assert name in pools, (sid, gpu)
            pool = pools[name]
            assert gpu in pool.gpu_types, (sid, gpu, name)
            assert pool.airflow_pool == f"gpu_{name}"  # recipes.pools.default_airflow_pool's convention
            for arm in spec.arms:
                assert arm.gpus <= pool.gpus, f"{sid}/{arm.name} needs {arm.gpus} GPUs; pool {name} has {pool.gpus}"


def test_schedules_never_start_together_on_one_pool():
    starts: dict[tuple, str] = {}
    for sid, spec_file in SPECS.items():
        spec = spec_file.spec
        minute, hour, _, _, dow = spec.schedule.cron.split()
        key = (spec.hardware.pool, int(dow) % 7, int(hour), int(minute))
        assert key not in starts, f"{sid} and {starts[key]} start together on pool {spec.hardware.pool}"
        starts[key] = sid


# ------------------------------------------------------------------------------------- schema checks


@pytest.mark.parametrize("sid,day,gpu", VARIANTS)
def test_core_kinds_pass_kubernetes_schemas(sid, day, gpu):
    docs = [d for d in rendered(sid, day, gpu) if d["apiVersion"] in CORE_APIS]
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # strict: unknown fields fail too


def test_only_known_kinds_are_rendered():
    kinds = {(d["apiVersion"], d["kind"]) for _, d in all_docs()}
    assert kinds <= {
        ("nvidia.com/v1alpha1", "DynamoGraphDeployment"),
        ("resource.nvidia.com/v1beta1", "ComputeDomain"),
        ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"), ("batch/v1", "Job"),
    }


@pytest.mark.parametrize("era", CRD_ERAS)
def test_dgds_pass_the_crd_schema(era):
    validator = jsonschema.Draft7Validator(dgd_schema(era))
    dgds = of_kind("DynamoGraphDeployment")
    assert len(dgds) >= 10
    for sid, doc in dgds:
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, f"{sid} {doc['metadata']['name']}: {errors}"


@pytest.mark.parametrize("era", CRD_ERAS)
def test_dgds_have_no_unknown_fields(era):
    schema = dgd_schema(era)
    for sid, doc in of_kind("DynamoGraphDeployment"):
        assert unknown_fields(doc, schema) == [], f"{sid} {doc['metadata']['name']}"


def test_unknown_field_check_catches_a_typo():
    schema = dgd_schema("head")
    doc = rendered("qwen3-32b-kv-routing")[0]
    bad = yaml.safe_load(yaml.safe_dump(doc))
    bad["spec"]["services"]["Frontend"]["replica"] = 1
    bad["spec"]["services"]["Frontend"]["extraPodSpec"]["mainContainer"]["argz"] = []
    assert sorted(unknown_fields(bad, schema)) == [
        ".spec.services.Frontend.extraPodSpec.mainContainer.argz", ".spec.services.Frontend.replica"]


def test_kubernetes_validate_catches_an_unknown_field():
    job = yaml.safe_load(yaml.safe_dump([d for d in rendered("llama-3-70b-topology") if d["kind"] == "Job"][0]))
    job["spec"]["template"]["spec"]["containers"][0]["comand"] = ["x"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_dgd_cel_rules():
    """CEL rules the JSON schema does not evaluate: sharedMemory needs a size > 0 unless disabled; restart
    must be unset on create; quantities of GPUs are strings."""
    for sid, doc in of_kind("DynamoGraphDeployment"):
        assert "restart" not in doc["spec"], sid
        for name, svc in doc["spec"]["services"].items():
            shm = svc.get("sharedMemory")
            if shm is not None:
                assert shm.get("disabled") or str(shm.get("size", "0")) not in ("", "0"), (sid, name, shm)
            for side in ("requests", "limits"):
                gpu = svc.get("resources", {}).get(side, {}).get("gpu")
                assert gpu is None or isinstance(gpu, str), (sid, name)


def test_compute_domains_have_the_dra_shape_and_are_claimed():
    domains = of_kind("ComputeDomain")
    assert {sid for sid, _ in domains} == {"kimi-k2-5-feature-stack", "deepseek-v3-2-wideep-routing"}
    for _sid, cd in domains:
        assert cd["apiVersion"] == "resource.nvidia.com/v1beta1"
        assert set(cd) == {"apiVersion", "kind", "metadata", "spec"}
        assert cd["spec"]["numNodes"] == 0
        assert set(cd["spec"]) == {"numNodes", "channel"}
        assert DNS_LABEL.match(cd["spec"]["channel"]["resourceClaimTemplate"]["name"])
    for sid, day, gpu in VARIANTS:
        docs = rendered(sid, day, gpu)
        templates = {d["spec"]["channel"]["resourceClaimTemplate"]["name"] for d in docs if d["kind"] == "ComputeDomain"}
        for dgd in (d for d in docs if d["kind"] == "DynamoGraphDeployment"):
            arm = dgd["metadata"]["labels"]["featurebench/arm"]
            for name, svc in dgd["spec"]["services"].items():
                claims = svc["extraPodSpec"].get("resourceClaims", [])
                for claim in claims:
                    assert claim["resourceClaimTemplateName"] in templates, (sid, arm, name)
                    assert {"name": claim["name"]} in svc["resources"]["claims"]
                if svc.get("multinode") and sid != "llama-3-70b-topology":
                    assert claims, f"{sid}/{arm}/{name}: a multinode GB200 worker needs its ComputeDomain channel"


def test_engine_configs_are_mounted_where_the_args_point():
    for sid, day, gpu in VARIANTS:
        docs = rendered(sid, day, gpu)
        maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
        for dgd in (d for d in docs if d["kind"] == "DynamoGraphDeployment"):
            for name, svc in dgd["spec"]["services"].items():
                args = svc["extraPodSpec"]["mainContainer"]["args"]
                if "--extra-engine-args" not in args:
                    continue
                path = args[args.index("--extra-engine-args") + 1]
                assert path.startswith("/config/")
                volume = svc["extraPodSpec"]["volumes"][0]
                data = maps[volume["configMap"]["name"]]
                assert path.removeprefix("/config/") in data, (sid, name)
                assert yaml.safe_load(data[path.removeprefix("/config/")])  # a parsable, non-empty config
                assert {"name": "engine-config", "mountPath": "/config", "readOnly": True} in svc["extraPodSpec"][
                    "mainContainer"]["volumeMounts"]


# ------------------------------------------------------------------------------ labels, names, jobs


def test_every_object_and_pod_carries_the_run_labels():
    for sid, doc in all_docs():
        labels = doc["metadata"]["labels"]
        arm = labels["featurebench/arm"]
        want = {"featurebench/benchmark": sid, "featurebench/run-id": recipes.PREVIEW_RUN_ID, "featurebench/arm": arm}
        assert want.items() <= labels.items(), (sid, doc["kind"])
        if doc["kind"] == "DynamoGraphDeployment":
            assert want.items() <= doc["spec"]["labels"].items()  # propagated to every pod by the operator
        if doc["kind"] in ("Deployment", "Job"):
            assert want.items() <= doc["spec"]["template"]["metadata"]["labels"].items()


def test_names_are_dns_labels_within_limits():
    for sid, doc in all_docs():
        name = doc["metadata"]["name"]
        assert len(name) <= 63 and DNS_LABEL.match(name), (sid, name)
        if doc["kind"] == "DynamoGraphDeployment":
            assert len(f"{name}-frontend") <= 63  # the Service the operator makes


def test_arms_sharing_a_deployment_name_get_distinct_names():
    docs = rendered("qwen3-vl-embedding-cache")
    names = [d["metadata"]["name"] for d in docs if d["kind"] == "DynamoGraphDeployment"]
    assert len(names) == 2 and len(set(names)) == 2
    assert all(n.startswith("qwen3-vl-agg-") for n in names)


def test_long_names_are_shortened_not_rejected():
    assert recipes.dns_name("a" * 80, "1234abcd") == "a" * 54 + "-1234abcd"
    assert len(recipes.dns_name("x-" * 40, "replay-x1.5-t3")) <= 63


def test_one_load_job_per_point_and_trial():
    for sid, spec_file in SPECS.items():
        resolved = spec_file.latest
        run = preview_run(resolved)
        for arm in run.arms:
            jobs = [d for d in recipes.render_arm(resolved, arm, run) if d["kind"] == "Job"]
            assert len(jobs) == len(run.points[arm]) * run.trials, (sid, arm)
            for job in jobs:
                (container,) = job["spec"]["template"]["spec"]["containers"]
                assert container["image"] == recipes.AIPERF_IMAGE and ":" in container["image"]
                assert container["command"][:4] == ["fb-load", "--", "aiperf", "profile"]  # the load image's entry point
                url = container["command"][container["command"].index("--url") + 1]
                assert url == recipes.endpoint_url(resolved, arm, run)


def test_json_arguments_survive_as_exact_strings(capsys):
    assert render_cli(["llama-3-70b-topology", "--arm", "disagg-single-node"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    (dgd,) = [d for d in docs if d["kind"] == "DynamoGraphDeployment"]
    args = dgd["spec"]["services"]["VllmPrefillWorker"]["extraPodSpec"]["mainContainer"]["args"]
    assert args[args.index("--kv-transfer-config") + 1] == '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
    assert all(isinstance(a, str) for a in args)


def test_memlock_wrapper_keeps_the_engine_argv():
    (dgd,) = [d for d in rendered("qwen3-6-35b-feature-stack") if d["kind"] == "DynamoGraphDeployment"
              and d["metadata"]["labels"]["featurebench/arm"] == "dynamo-fd-ec"]
    main = dgd["spec"]["services"]["VllmWorker"]["extraPodSpec"]["mainContainer"]
    assert main["command"] == ["/bin/sh", "-c", 'ulimit -l unlimited && exec "$@"', "sh", "python3", "-m", "dynamo.vllm"]
    assert main["securityContext"] == {"capabilities": {"add": ["IPC_LOCK", "SYS_RESOURCE"]}}
    assert "$(DYN_MULTIMODAL_EMBEDDING_CACHE_GB)" in main["args"]


def test_gpu_type_picks_the_pool():
    gb200 = [d for d in rendered("qwen3-6-35b-feature-stack", None, "GB200") if d["kind"] == "Deployment"][0]
    h100 = [d for d in rendered("qwen3-6-35b-feature-stack", None, "H100") if d["kind"] == "Deployment"][0]
    assert gb200["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/arch"] == "arm64"
    assert {"key": "kubernetes.io/arch", "operator": "Equal", "value": "arm64", "effect": "NoSchedule"} in gb200[
        "spec"]["template"]["spec"]["tolerations"]
    assert "kubernetes.io/arch" not in h100["spec"]["template"]["spec"]["nodeSelector"]


def _load_jobs(sid: str) -> list[tuple[str, dict, dict]]:
    resolved = SPECS[sid].latest
    run = preview_run(resolved)
    out = []
    for arm in run.arms:
        for job in (d for d in recipes.render_arm(resolved, arm, run) if d["kind"] == "Job"):
            out.append((arm, job, job["spec"]["template"]["spec"]))
    return out


def test_load_job_contract_with_the_load_image():
    """What docker/aiperf/fb_load.py relies on: pod-local paths in the AIPerf command, store URIs in the env
    (artifacts under layout.artifacts_prefix, the trace under layout.traffic_key), the tokenizer offline from the
    arm's model cache mounted read-only at HF_HOME."""
    from featurebench.layout import artifacts_prefix, traffic_key
    from featurebench.results.store import join_uri

    for sid in SPECS:
        traffic = SPECS[sid].latest.spec.traffic
        for arm, job, pod in _load_jobs(sid):
            (container,) = pod["containers"]
            argv, env = container["command"], {e["name"]: e.get("value") for e in container["env"]}
            cmd = argv[len(argv) - argv[::-1].index("--"):]  # the measured run: after the last `--`
            warmups = argv.count("--") - 1  # a separate synthetic warmup run comes first, without the trace
            assert warmups == int(SPECS[sid].latest.spec.warmup.separate)
            if warmups:
                assert "--input-file" not in argv[argv.index("--"):len(argv) - len(cmd)]
            labels = job["metadata"]["labels"]
            run_id, point, trial = labels["featurebench/run-id"], labels["featurebench/point"], labels["featurebench/trial"]
            run = preview_run(SPECS[sid].latest)
            date = run.date
            assert cmd[cmd.index("--artifact-dir") + 1] == f"{recipes.LOAD_WORK}/artifacts"
            assert env["FEATUREBENCH_ARTIFACTS_URI"] == join_uri(
                run.results_root, artifacts_prefix(sid, date, run_id, arm, point, int(trial)))
            if traffic.kind == "trace":
                assert cmd[cmd.index("--input-file") + 1] == f"{recipes.LOAD_WORK}/traffic/{traffic.file}"
                assert env["FEATUREBENCH_TRACE_URI"].endswith("/" + traffic_key(sid, date, run_id, traffic.file))
            else:
                assert "--input-file" not in cmd and "FEATUREBENCH_TRACE_URI" not in env
            assert env["HF_HOME"] == recipes.LOAD_HF_HOME and env["HF_HUB_OFFLINE"] == "1"
            assert cmd[cmd.index("--tokenizer") + 1] == SPECS[sid].latest.spec.model.hf_id  # org/name, HF cache
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert mounts[recipes.LOAD_HF_HOME].get("readOnly") is True
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert "emptyDir" in volumes[mounts[recipes.LOAD_WORK]["name"]]
            claim = volumes[mounts[recipes.LOAD_HF_HOME]["name"]]["persistentVolumeClaim"]["claimName"]
            assert claim in {v.pvc for v in SPECS[sid].latest.spec.arm(arm).deploy.volumes}
            assert "envFrom" not in container and "serviceAccountName" not in pod  # nothing configured


def test_multimodal_traces_say_how_images_travel():
    (_, _, pod), *_ = _load_jobs("qwen3-vl-embedding-cache")  # image_mode: http -> the engine fetches from the pod
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["FEATUREBENCH_MEDIA_MODE"]["value"] == "http"
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    (_, _, pod), *_ = _load_jobs("qwen3-6-35b-feature-stack")  # base64: AIPerf inlines the downloaded files
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["FEATUREBENCH_MEDIA_MODE"]["value"] == "base64" and "POD_IP" not in env
    (_, _, pod), *_ = _load_jobs("qwen3-32b-kv-routing")
    assert "FEATUREBENCH_MEDIA_MODE" not in {e["name"] for e in pod["containers"][0]["env"]}


def test_load_pod_settings_are_references_from_the_environment(monkeypatch):
    monkeypatch.setenv("FEATUREBENCH_AIPERF_IMAGE", "registry.example:5000/team/aiperf")
    monkeypatch.setenv("FEATUREBENCH_LOAD_SERVICE_ACCOUNT", "featurebench-load")
    monkeypatch.setenv("FEATUREBENCH_LOAD_S3_ENV_FROM", "featurebench-s3")
    monkeypatch.setenv("FEATUREBENCH_LOAD_S3_ENDPOINT_URL", "http://minio.storage.svc:9000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-SENTINEL-do-not-leak")
    (_, job, pod), *_ = _load_jobs("qwen3-32b-kv-routing")
    (container,) = pod["containers"]
    assert container["image"] == f"registry.example:5000/team/aiperf:{recipes.AIPERF_VERSION}"
    assert pod["serviceAccountName"] == "featurebench-load"
    assert container["envFrom"] == [{"secretRef": {"name": "featurebench-s3"}}]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FEATUREBENCH_S3_ENDPOINT_URL"] == "http://minio.storage.svc:9000"
    assert "aws-SENTINEL-do-not-leak" not in yaml.safe_dump(job)
    assert not [e for e in env if e.startswith("AWS_") or "SECRET" in e or e.endswith("TOKEN")]
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)

    monkeypatch.setenv("FEATUREBENCH_LOAD_S3_ENDPOINT_URL", "http://user:pass@minio:9000")  # a credential in a URL
    with pytest.raises(RecipeError, match="FEATUREBENCH_LOAD_S3_ENDPOINT_URL"):
        _load_jobs("qwen3-32b-kv-routing")
    monkeypatch.setenv("FEATUREBENCH_LOAD_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("FEATUREBENCH_AIPERF_IMAGE", "ghcr.io/x/aiperf:latest")  # the tag is not configurable
    with pytest.raises(RecipeError, match="image"):
        _load_jobs("qwen3-32b-kv-routing")


# --------------------------------------------------------------------------------------- secrets


def test_no_secret_value_reaches_a_manifest(monkeypatch, capsys):
    sentinels = {"HF_TOKEN": "hf_SENTINEL_do_not_leak", "AWS_SECRET_ACCESS_KEY": "aws-SENTINEL-do-not-leak",
                 "HUGGING_FACE_HUB_TOKEN": "hf_SENTINEL_hub"}
    for key, value in sentinels.items():
        monkeypatch.setenv(key, value)
    texts = []
    for sid in SPECS:
        assert render_cli([sid]) == 0
        texts.append(capsys.readouterr().out)
    text = "\n".join(texts)
    for value in sentinels.values():
        assert value not in text
    docs = [d for t in texts for d in yaml.safe_load_all(t)]
    secret_refs = set()
    for doc in docs:
        for svc in doc.get("spec", {}).get("services", {}).values():
            if "envFromSecret" in svc:
                secret_refs.add(svc["envFromSecret"])
            for env in svc.get("envs", []):
                assert "TOKEN" not in env["name"] and "SECRET" not in env["name"], env
    assert secret_refs == {recipes.HF_TOKEN_SECRET}
    assert "hf-token-secret" in text


# --------------------------------------------------------------------------------- failing loudly


def test_undefined_template_variable_is_an_error_naming_the_template():
    run_ctx = {"name": "x", "namespace": "ns", "labels": {}, "channel_template": "y"}
    assert render_template("compute-domain.yaml.j2", run_ctx)
    del run_ctx["channel_template"]
    with pytest.raises(RecipeError, match=r"compute-domain\.yaml\.j2 line \d+: undefined variable: .*channel_template"):
        render_template("compute-domain.yaml.j2", run_ctx)


def test_templates_are_sandboxed():
    env = recipes.environment()
    with pytest.raises(Exception, match="unsafe|not safely callable|access"):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()


@pytest.mark.parametrize("overrides,message", [
    ({"image_tag": "1.3.0; rm -rf /"}, "image_tag"),
    ({"image_tag": "x" * 129}, "image_tag"),
    ({"gpu_type": "A100"}, "gpu_type"),
    ({"namespace": "Bad_NS"}, "namespace"),
    ({"aiperf_image": "aiperf"}, "aiperf_image"),  # no tag: not pinned
    ({"imagetag": "1.3.0"}, "unknown override"),
])
def test_bad_overrides_are_rejected(overrides, message):
    resolved = SPECS["qwen3-6-35b-feature-stack"].latest
    with pytest.raises(RecipeError, match=message):
        validate_overrides(resolved, overrides)


def test_good_overrides_pass():
    resolved = SPECS["qwen3-6-35b-feature-stack"].latest
    ok = {"image_tag": "1.3.0-rc1", "gpu_type": "GB200", "namespace": "perf-team", "aiperf_image": "reg.io/a/aiperf:0.13.0"}
    assert validate_overrides(resolved, ok) == ok


def test_a_bad_image_tag_in_the_run_fails_before_rendering():
    resolved = SPECS["qwen3-32b-kv-routing"].latest
    run = preview_run(resolved, image_tag="1.3.0\nkind: Secret")
    with pytest.raises(RecipeError, match="image_tag"):
        render_run(resolved, run)


def test_render_cli_errors_go_to_stderr(capsys):
    assert render_cli(["no-such-benchmark"]) != 0
    out, err = capsys.readouterr()
    assert out == "" and "no-such-benchmark" in err
    assert render_cli(["kimi-k2-5-feature-stack", "--arm", "nope"]) != 0
    out, err = capsys.readouterr()
    assert out == "" and "nope" in err


def test_render_cli_prints_only_yaml(capsys):
    assert render_cli(["kimi-k2-5-feature-stack"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert len(docs) == len(rendered("kimi-k2-5-feature-stack"))
    assert all(isinstance(d, dict) and "kind" in d for d in docs)


def test_a_broken_spec_is_reported_by_file_and_field_while_the_others_load(tmp_path):
    for path in (REPO_ROOT / "include" / "benchmarks").glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    broken = tmp_path / "llama-3-70b-topology.yaml"
    broken.write_text(broken.read_text().replace("concurrency_per_gpu: 16", "concurrency_per_gpu: sixteen"))
    specs, errors = load_all(tmp_path)
    assert set(specs) == set(SPECS) - {"llama-3-70b-topology"}
    (message,) = errors.values()
    assert str(broken) in message and "load.concurrency_per_gpu" in message


def test_a_worker_field_typo_is_named(tmp_path):
    path = tmp_path / "kimi-k2-5-feature-stack.yaml"
    text = (REPO_ROOT / "include" / "benchmarks" / path.name).read_text()
    path.write_text(text.replace("gpus_per_pod: 4\n          tp: 4\n          ep: 4\n          attention_dp: true",
                                 "gpus_per_pod: 4\n          tp: 4\n          ep: 4\n          attention_db: true", 1))
    with pytest.raises(Exception) as info:
        load_spec("kimi-k2-5-feature-stack", tmp_path)
    assert str(path) in str(info.value) and "attention_db" in str(info.value)
