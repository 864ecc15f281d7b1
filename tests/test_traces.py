"""Trace generators: format rules, determinism, statistics against the reference, ensure_trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featurebench.spec import TRACES_DIR, Traffic, load_all, load_spec
from featurebench.traces import GENERATORS, TraceError, ensure_trace
from featurebench.traces.manifest import manifest_path, read_manifest, sha256_file
from featurebench.traces.mooncake import check_rows
from featurebench.traces.stats import mooncake_stats, read_jsonl

SHARED_TRACES = Path("/work/shared/reference/traces")
KV_ROUTING = load_spec("qwen3-32b-kv-routing").latest.spec
SMALL = {"requests": 60, "duration_s": 30, "sessions": 8, "mean_turns": 7.5, "system_prompt_blocks": 2,
         "mean_isl": 3000, "mean_osl": 50, "max_isl": 9000, "seed": 3}


def _traffic(generator: str = "prefix_reuse", params: dict = SMALL, file: str = "t/trace.jsonl") -> Traffic:
    return Traffic(kind="trace", description="test", dataset_type="mooncake_trace", generator=generator,
                   params=params, file=file)


# --- the format checker itself: each rule must be able to fail ------------------------------------------

GOOD = [
    {"timestamp": 0, "input_length": 1100, "output_length": 5, "hash_ids": [0, 1, 2]},
    {"timestamp": 5, "input_length": 1024, "output_length": 5, "hash_ids": [0, 1]},
    {"timestamp": 9, "input_length": 1500, "output_length": 5, "hash_ids": [0, 1, 3]},
]


def test_checker_accepts_a_valid_trace():
    check_rows(GOOD)


@pytest.mark.parametrize(
    "row, message",
    [
        ({"timestamp": 9, "input_length": 1500, "output_length": 5, "hash_ids": [0, 1]}, "ids for 1500 tokens"),
        ({"timestamp": 9, "input_length": 1500, "output_length": 5, "hash_ids": [0, 4, 5]}, "next consecutive"),
        ({"timestamp": 9, "input_length": 1500, "output_length": 5, "hash_ids": [3, 1, 2]}, "id 1 follows 3, elsewhere 0"),
        ({"timestamp": 9, "input_length": 2000, "output_length": 5, "hash_ids": [0, 1, 2, 3]}, "id 2 has 512 tokens, 76 in"),
        ({"timestamp": 2, "input_length": 1500, "output_length": 5, "hash_ids": [0, 1, 3]}, "timestamp"),
    ],
)
def test_checker_rejects_each_broken_rule(row, message):
    with pytest.raises(ValueError, match=message):
        check_rows(GOOD[:2] + [row])


# --- prefix_reuse ---------------------------------------------------------------------------------------


def test_prefix_reuse_follows_the_mooncake_rules_and_the_params(tmp_path):
    stats = GENERATORS["prefix_reuse"](SMALL, tmp_path / "a.jsonl")
    rows = read_jsonl(tmp_path / "a.jsonl")
    check_rows(rows)
    assert len(rows) == stats["requests"] == SMALL["requests"]
    assert rows[0]["timestamp"] == 0 and rows[-1]["timestamp"] <= SMALL["duration_s"] * 1000
    assert stats["isl_mean"] == pytest.approx(SMALL["mean_isl"], rel=0.02)
    assert stats["isl_max"] <= SMALL["max_isl"]
    system = list(range(SMALL["system_prompt_blocks"]))
    assert all(r["hash_ids"][:2] == system for r in rows)  # every prompt starts with the system prompt
    partial_ids = [r["hash_ids"][-1] for r in rows if r["input_length"] % 512]
    all_ids = [h for r in rows for h in r["hash_ids"]]
    assert all(all_ids.count(h) == 1 for h in partial_ids)  # a partial last block is never reused


def _thread_starts(rows: list[dict]) -> int:
    """Rows that do not extend an earlier prompt (all its full blocks, more than the system prompt)."""
    starts = 0
    for i, r in enumerate(rows):
        fulls = (p["hash_ids"][: p["input_length"] // 512] for p in rows[:i])
        if not any(len(f) > 2 and r["hash_ids"][: len(f)] == f for f in fulls):
            starts += 1
    return starts


@pytest.mark.parametrize("followup_prob, starts", [(1.0, SMALL["sessions"]), (0.0, SMALL["requests"])])
def test_prefix_reuse_follow_ups_extend_the_previous_prompt(tmp_path, followup_prob, starts):
    # long, narrowly spread new text, so every first prompt has full blocks beyond the system prompt
    params = {**SMALL, "followup_prob": followup_prob, "max_isl": 10**6, "mean_isl": 20000, "isl_sigma": 0.2}
    GENERATORS["prefix_reuse"](params, tmp_path / "a.jsonl")
    assert _thread_starts(read_jsonl(tmp_path / "a.jsonl")) == starts


def test_prefix_reuse_is_deterministic_and_seed_dependent(tmp_path):
    GENERATORS["prefix_reuse"](SMALL, tmp_path / "a.jsonl")
    GENERATORS["prefix_reuse"](dict(SMALL), tmp_path / "b.jsonl")
    GENERATORS["prefix_reuse"]({**SMALL, "seed": 4}, tmp_path / "c.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


@pytest.mark.parametrize("bad", [{"mean_turns": 3}, {"max_isl": 1000}, {"followup_prob": 2}, {"colour": 1}])
def test_prefix_reuse_rejects_bad_params(tmp_path, bad):
    with pytest.raises(TraceError, match="rejected params"):
        ensure_trace(_traffic(params={**SMALL, **bad}), root=tmp_path)


# published FAST25 conversation trace (reference/feature-benchmarks.md section 5)
FAST25 = {"requests": 12031, "duration_s": 3540, "request_rate": 3.4, "input_tok_per_s": 40937, "isl_mean": 12035,
          "isl_max": 126195, "osl_mean": 343, "unique_blocks": 182790, "block_refs": 288500,
          "block_reuse_ratio": 0.242, "cache_efficiency": 0.3664}


def test_full_size_prefix_reuse_lands_near_the_fast25_trace(tmp_path):
    stats = GENERATORS["prefix_reuse"](dict(KV_ROUTING.traffic.params), tmp_path / "full.jsonl")
    print("\nstat                 generated    FAST25")
    for key, ref in FAST25.items():
        print(f"{key:18} {stats[key]:>11} {ref:>9}")
    for key in ["requests", "isl_mean", "isl_max", "input_tok_per_s", "duration_s", "block_refs"]:
        assert stats[key] == pytest.approx(FAST25[key], rel=0.01), key
    assert stats["osl_mean"] == pytest.approx(FAST25["osl_mean"], rel=0.05)
    assert stats["block_reuse_ratio"] == pytest.approx(FAST25["block_reuse_ratio"], abs=0.02)
    assert stats["cache_efficiency"] == pytest.approx(FAST25["cache_efficiency"], abs=0.02)


@pytest.mark.skipif(not SHARED_TRACES.exists(), reason="/work/shared/reference/traces is not available")
def test_stats_reproduce_the_known_shape_of_dynamos_1000_row_fixture():
    rows = read_jsonl(SHARED_TRACES / "mooncake_trace_1000.jsonl")
    check_rows(rows, consecutive=False)  # a real trace passes the rules the generators are held to
    stats = mooncake_stats(rows)
    print("\nmooncake_trace_1000:", json.dumps(stats))
    # facts from reference/traces/README.md
    assert stats["requests"] == 1000 and stats["duration_s"] == 177.098
    assert round(stats["isl_mean"]) == 9792 and round(stats["osl_mean"]) == 199
    assert stats["block_refs"] == sum(len(r["hash_ids"]) for r in rows)
    assert 0 < stats["block_reuse_ratio"] < 1 and 0 < stats["cache_efficiency"] < 1


# --- ensure_trace ---------------------------------------------------------------------------------------


def test_ensure_trace_generates_then_verifies_without_rewriting(tmp_path):
    path = ensure_trace(_traffic(), root=tmp_path)
    manifest = read_manifest(path)
    assert manifest["generator"] == "prefix_reuse" and manifest["params"] == SMALL and manifest["seed"] == 3
    assert manifest["sha256"] == sha256_file(path) and manifest["stats"]["requests"] == 60
    before = path.stat().st_mtime_ns
    assert ensure_trace(_traffic(), root=tmp_path) == path
    assert path.stat().st_mtime_ns == before


def test_ensure_trace_regenerates_when_params_change(tmp_path):
    path = ensure_trace(_traffic(), root=tmp_path)
    first = path.read_bytes()
    ensure_trace(_traffic(params={**SMALL, "seed": 5}), root=tmp_path)
    assert path.read_bytes() != first and read_manifest(path)["params"]["seed"] == 5


def test_ensure_trace_regenerates_a_file_without_manifest(tmp_path):
    path = ensure_trace(_traffic(), root=tmp_path)
    good = path.read_bytes()
    manifest_path(path).unlink()
    path.write_text("junk\n")
    ensure_trace(_traffic(), root=tmp_path)
    assert path.read_bytes() == good


def test_ensure_trace_refuses_a_tampered_file(tmp_path):
    path = ensure_trace(_traffic(), root=tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"output_length":', b'"output_length":1', 1))
    with pytest.raises(TraceError, match=r"trace\.jsonl: sha256 .* does not match"):
        ensure_trace(_traffic(), root=tmp_path)


def test_ensure_trace_names_unknown_generators(tmp_path):
    with pytest.raises(TraceError, match="unknown trace generator 'nope'"):
        ensure_trace(_traffic(generator="nope"), root=tmp_path)


# --- committed files ------------------------------------------------------------------------------------


def _committed_traffic() -> list:
    specs, _ = load_all()
    return [
        pytest.param(sf.latest.spec.local.traffic, id=sid)
        for sid, sf in sorted(specs.items())
        if sf.latest.spec.local.traffic.kind == "trace"
    ]


@pytest.mark.parametrize("traffic", _committed_traffic())
def test_committed_local_traces_match_their_spec_and_manifest(traffic):
    path = TRACES_DIR / traffic.file
    manifest = read_manifest(path)
    assert manifest is not None, f"{path} has no manifest: run python -m featurebench.traces generate"
    assert manifest["params"] == dict(traffic.params), f"{path} was made from other params than the spec's"
    assert manifest["generator"] == traffic.generator
    assert manifest["generator_version"] == GENERATORS[traffic.generator].version
    assert sha256_file(path) == manifest["sha256"]
    assert path.stat().st_size < 1_000_000
