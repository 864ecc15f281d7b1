"""The trigger form: defaults validate at parse time, bad values are refused by Airflow's own Param validation
(trigger, `dags test -c`, backfill conf) and again by resolve_config, the first task, with a clear message."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from airflow.sdk.definitions.param import ParamsDict

from featurebench.airflow.dag_builder import build_dag
from featurebench.errors import ParamError
from featurebench.spec import load_spec
from featurebench.spec.params import validate_params

REPLAY = "qwen3-32b-kv-routing"  # trace replay on a fixed schedule, 2 arms
CLOSED = "kimi-k2-5-feature-stack"  # closed-loop concurrency, 4 arms


@pytest.fixture(scope="module")
def dags():
    return {b: build_dag(load_spec(b)) for b in (REPLAY, CLOSED)}


def resolved(benchmark: str):
    return load_spec(benchmark).resolve(dt.date(2026, 9, 1))


def airflow_validate(dag, conf: dict) -> dict:
    """What Airflow does with a trigger / backfill conf: the DAG's params updated by the conf, then validated
    (the scheduler side spells it dag.params.deep_merge(conf).validate(), reference/airflow3.md §4)."""
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return params.validate()


def test_only_resolve_config_starts_the_dag(dags):
    for dag in dags.values():
        assert [t.task_id for t in dag.roots] == ["resolve_config"]


def test_defaults_validate_at_parse_time(dags):
    for b, dag in dags.items():
        defaults = dag.params.validate()  # the weekly schedule needs valid defaults
        assert validate_params(resolved(b), defaults)["arms"] == [a.name for a in resolved(b).spec.arms]


def test_form_has_titles_descriptions_and_sections(dags):
    for dag in dags.values():
        for name in dag.params:
            schema = dag.params.get_param(name).schema
            assert schema.get("title") and dag.params.get_param(name).description, name
        assert {dag.params.get_param(n).schema.get("section") for n in dag.params} >= {"What to run", "Configuration"}


CLOSED_CONTROL = "agg-round-robin"
BAD = [
    # (benchmark, conf, words the message must contain)
    (REPLAY, {"platform": "gpu"}, ["platform", "'gpu'", "local or kubernetes"]),
    (CLOSED, {"arms": [CLOSED_CONTROL, "no-such-arm"]}, ["no-such-arm", "unknown"]),
    (CLOSED, {"arms": ["agg-eagle-round-robin", "agg-eagle-kv-router"]}, ["control arm", CLOSED_CONTROL]),
    (CLOSED, {"load_points": ["c0"]}, ["'c0'", "c<N>"]),
    (CLOSED, {"load_points": ["x"]}, ["'x'", "replay"]),
    (REPLAY, {"load_points": ["c8"]}, ["fixed schedule", "replay"]),
    (REPLAY, {"trials": 0}, ["trials 0", "1 to 10"]),
    (REPLAY, {"trials": 11}, ["trials 11"]),
    (REPLAY, {"trials": True}, ["trials True"]),
    (REPLAY, {"image_tag": "1.0 beta"}, ["image_tag", "letters, digits"]),
    (REPLAY, {"image_tag": "1.0; rm -rf /"}, ["image_tag", "'1.0; rm -rf /'"]),
    (REPLAY, {"image_tag": "$(reboot)"}, ["image_tag"]),
    (REPLAY, {"dry_run": "false"}, ["dry_run", "true or false"]),
]


@pytest.mark.parametrize("benchmark,conf,words", BAD, ids=[str(c) for _, c, _ in BAD])
def test_first_task_rejects_bad_values_with_a_clear_message(dags, benchmark, conf, words):
    params = {**dags[benchmark].params.dump(), **conf}
    with pytest.raises(ParamError) as err:
        validate_params(resolved(benchmark), params)
    msg = str(err.value)
    print(f"\n{conf} -> {msg}")
    assert benchmark in msg and "invalid trigger parameters" in msg
    for w in words:
        assert w in msg


@pytest.mark.parametrize("benchmark,conf,words", BAD, ids=[str(c) for _, c, _ in BAD])
def test_airflow_param_validation_rejects_them_too(dags, benchmark, conf, words):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        airflow_validate(dags[benchmark], conf)


def test_a_typo_in_the_conf_is_caught_by_the_first_task(dags):
    # Airflow keeps unknown conf keys; resolve_config refuses them instead of ignoring a misspelt field.
    params = airflow_validate(dags[REPLAY], {"trail": 3})
    with pytest.raises(ParamError, match=r"unknown parameter\(s\) \['trail'\]"):
        validate_params(resolved(REPLAY), params)


def test_good_values_pass_both(dags):
    conf = {"platform": "kubernetes", "arms": [CLOSED_CONTROL, "agg-eagle-kv-router", CLOSED_CONTROL][:2],
            "load_points": ["c16", "c64"], "trials": 5, "image_tag": "1.3.1-rc.2", "dry_run": True}
    params = airflow_validate(dags[CLOSED], conf)
    out = validate_params(resolved(CLOSED), params)
    assert out == {**conf, "gpu_type": resolved(CLOSED).spec.hardware.gpu}
    assert isinstance(dags[CLOSED].params, ParamsDict)
