"""Property-based tests (hypothesis): arbitrary text and values given to the spec loader, the trigger-parameter
validation and ingestion either validate or raise the project's own error naming the input. Nothing else escapes.

Bounded (modest max_examples, no deadline) so the suite stays fast; failures print a minimal example.
"""

from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurebench.errors import IngestError, ParamError, SpecError
from featurebench.results.records import ingest_records
from featurebench.spec import BENCHMARKS_DIR, IMAGE_TAG, LOAD_POINT, SpecFile, load_spec
from featurebench.spec.params import FORM_FIELDS, validate_params

BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BENCH = "qwen3-32b-kv-routing"
BASE = yaml.safe_load((BENCHMARKS_DIR / f"{BENCH}.yaml").read_text())

# JSON-like values, including the awkward ones: newlines, NUL, unicode digits, huge and non-finite numbers
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
           | st.sampled_from(["replay\n", "c8\n", "1.3.1\n", "2026-02-30", "²", "c0", "replay-x0", "-1"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    return tmp_path_factory.mktemp("specs") / f"{BENCH}.yaml"


def _leaf_paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaf_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaf_paths(v, (*prefix, i))
    yield prefix


LEAVES = [p for p in _leaf_paths(BASE) if p]


def _load(path, data: bytes):
    path.write_bytes(data)
    try:
        return SpecFile(path)
    except SpecError as exc:
        assert str(path) in str(exc), f"the error does not name the file: {exc}"
        return None


@BOUNDED
@given(text=st.text(max_size=300))
def test_any_text_is_a_spec_or_a_spec_error(spec_path, text):
    _load(spec_path, text.encode("utf-8", "surrogatepass"))


@BOUNDED
@given(data=st.binary(max_size=300))
def test_any_bytes_are_a_spec_or_a_spec_error(spec_path, data):
    _load(spec_path, data)


@BOUNDED
@given(where=st.sampled_from(LEAVES), value=values)
def test_any_value_anywhere_in_a_real_spec_is_valid_or_named(spec_path, where, value):
    doc = json.loads(json.dumps(BASE, default=str))
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    spec_file = _load(spec_path, yaml.safe_dump(doc, allow_unicode=True).encode())
    if spec_file is not None:  # whatever validated is safe to put in a name, a label or a command line
        spec = spec_file.latest.spec
        for arm in spec.arms:
            assert all(LOAD_POINT.fullmatch(p) for p in spec.load_points(arm))
        assert all(IMAGE_TAG.fullmatch(v.image_tag) for v in spec.versions)


RESOLVED = load_spec(BENCH).latest
params = st.dictionaries(st.sampled_from(FORM_FIELDS) | st.text(max_size=8), values, max_size=7)


@BOUNDED
@given(conf=params | values)
def test_any_trigger_conf_validates_or_is_a_param_error(conf):
    try:
        out = validate_params(RESOLVED, conf)
    except ParamError as exc:
        assert BENCH in str(exc)
        return
    assert all(isinstance(p, str) and LOAD_POINT.fullmatch(p) for p in out["load_points"])
    assert out["image_tag"] is None or IMAGE_TAG.fullmatch(out["image_tag"])
    assert out["trials"] is None or 1 <= out["trials"] <= 10
    assert set(out["arms"]) <= {a.name for a in RESOLVED.spec.arms}


@pytest.fixture(scope="module")
def jsonl_path(tmp_path_factory):
    return tmp_path_factory.mktemp("aiperf") / "profile_export.jsonl"


def _ingest(path, data: bytes):
    path.write_bytes(data)
    try:
        return ingest_records(path, goodput=None)
    except IngestError as exc:
        assert str(path) in str(exc), f"the error does not name the file: {exc}"
        return None


@BOUNDED
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_ingest_or_raise_an_ingest_error(jsonl_path, data):
    _ingest(jsonl_path, data)


latency = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**6), 10**6) | st.none() | st.text(max_size=3)
record = st.fixed_dictionaries({
    "metadata": st.fixed_dictionaries({"benchmark_phase": st.sampled_from(["profiling", "warmup"]),
                                       "request_start_ns": st.integers(0, 2**62),
                                       "credit_issued_ns": st.integers(0, 2**62)}),
    "metrics": st.fixed_dictionaries({
        "time_to_first_token": st.fixed_dictionaries({"value": latency}),
        "inter_token_latency": st.fixed_dictionaries({"value": latency}),
        "request_latency": st.fixed_dictionaries({"value": latency}),
        "inter_chunk_latency": st.fixed_dictionaries({"value": st.lists(latency, max_size=3)}),
    }),
})


@BOUNDED
@given(records=st.lists(record, min_size=1, max_size=8))
def test_records_with_any_latency_never_give_a_corrupt_successful_row(jsonl_path, records):
    table = _ingest(jsonl_path, "".join(json.dumps(r) + "\n" for r in records).encode())
    if table is None:
        return
    for row in table.to_pylist():
        if row["ok"]:
            for name in ("ttft_ms", "itl_ms", "request_latency_ms"):
                assert row[name] is None or (math.isfinite(row[name]) and row[name] >= 0), (name, row)
            assert all(v is None or (math.isfinite(v) and v >= 0) for v in row["inter_chunk_latency_ms"] or [])
