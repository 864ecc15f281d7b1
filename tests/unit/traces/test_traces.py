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
    with pytest.raises(TraceError, match="trace.jsonl: generator prefix_reuse rejects params"):
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


# DeepSeek's trace: FAST25 conversation_trace through datagen synthesize (prefix x16, prompt x10, max ISL 110k),
# reference/feature-benchmarks.md section 4. Recommended spec params: a 25-block (12,800-token) shared prefix
# gives its min ISL 12,801; follow-ups at 0.28 give its 44.1% block hit rate.
DEEPSEEK_PARAMS = {"requests": 10000, "duration_s": 3540, "sessions": 1250, "mean_turns": 8, "system_prompt_blocks": 25,
                   "followup_prob": 0.28, "mean_isl": 39186, "mean_osl": 344, "max_isl": 110000, "seed": 42}
DEEPSEEK = {"requests": 10000, "isl_mean": 39186, "isl_min": 12801, "isl_max": 109459, "osl_mean": 344,
            "unique_blocks": 430838, "block_refs": 770934, "cache_efficiency": 0.441}


def test_recommended_deepseek_params_land_near_its_published_trace_stats(tmp_path):
    stats = GENERATORS["prefix_reuse"](DEEPSEEK_PARAMS, tmp_path / "full.jsonl")
    print("\nstat                 generated  DeepSeek trace")
    for key, ref in DEEPSEEK.items():
        print(f"{key:18} {stats[key]:>11} {ref:>9}")
        assert stats[key] == pytest.approx(ref, rel=0.03), key


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
        if sf.latest.spec.local.traffic.file
    ]


def _spec_traffic() -> list:
    specs, _ = load_all()
    return [
        pytest.param(traffic, id=f"{sid}-{which}")
        for sid, sf in sorted(specs.items())
        for which, traffic in [("full", sf.latest.spec.traffic), ("local", sf.latest.spec.local.traffic)]
        if traffic.generator
    ]


@pytest.mark.parametrize("traffic", _spec_traffic())
def test_every_spec_names_a_generator_that_accepts_its_params(traffic):
    GENERATORS[traffic.generator].check(dict(traffic.params))


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


# --- agentic --------------------------------------------------------------------------------------------

AGENTIC_SMALL = {"sessions": 12, "mean_turns": 6, "system_prompt_tokens": 1024, "group_context_tokens": 512,
                 "groups": 3, "mean_session_context": 1500, "mean_new_tokens": 400, "mean_osl": 48,
                 "max_isl": 6000, "seed": 7}


def test_agentic_rows_follow_aiperfs_agentic_format(tmp_path):
    GENERATORS["agentic"](AGENTIC_SMALL, tmp_path / "a.jsonl")
    rows = read_jsonl(tmp_path / "a.jsonl")
    check_rows(rows)
    firsts = [r for r in rows if "timestamp" in r]
    assert len(firsts) == 12 and all("group_id" in r and "delay" not in r for r in firsts)
    assert all("delay" in r and "group_id" not in r for r in rows if "timestamp" not in r)
    # sessions are contiguous in the file, each opened by its turn-0 row
    order = [r["session_id"] for r in rows]
    assert [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s] == [r["session_id"] for r in firsts]
    # L1 (2 blocks) is in every session; L1.5 (1 block) is shared exactly by the sessions of a group
    assert all(r["hash_ids"][:2] == [0, 1] for r in firsts)
    by_group = {}
    for r in firsts:
        by_group.setdefault(r["group_id"], set()).add(r["hash_ids"][2])
    assert all(len(ids) == 1 for ids in by_group.values()) and len({min(v) for v in by_group.values()}) == len(by_group)
    # the whole prompt (history + new tokens) never exceeds max_isl
    context: dict[str, int] = {}
    for r in rows:
        prompt = context.get(r["session_id"], 0) + r["input_length"]
        assert prompt <= AGENTIC_SMALL["max_isl"]
        context[r["session_id"]] = prompt + r["output_length"]


def test_agentic_is_deterministic(tmp_path):
    GENERATORS["agentic"](AGENTIC_SMALL, tmp_path / "a.jsonl")
    GENERATORS["agentic"](dict(AGENTIC_SMALL), tmp_path / "b.jsonl")
    GENERATORS["agentic"]({**AGENTIC_SMALL, "seed": 8}, tmp_path / "c.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


# AIPerf's own 1k_sessions_200k_ctx dataset (ai-dynamo/aiperf src/aiperf/dataset/agentic_code_gen/datasets/
# 1k_sessions_200k_ctx/quality.json @e0eca51), the trace the Kimi benchmark replays: 1,205 sessions of which
# 74 restart splits (not modelled here), 14,163 turns.
AIPERF_AGENTIC = {"turns_per_session.mean": 11.75, "initial_context.mean": 54779.5, "initial_context.median": 47263,
                  "new_tokens_per_turn.mean": 5798.4, "new_tokens_per_turn.median": 3927,
                  "generation_length.mean": 989.7, "generation_length.median": 784,
                  "inter_turn_delay_ms.median": 2020.5}


def test_full_size_agentic_lands_near_aiperfs_dataset(tmp_path):
    stats = GENERATORS["agentic"]({"sessions": 1131, "seed": 42}, tmp_path / "full.jsonl")
    print("\nstat                          generated   AIPerf 1k_sessions_200k_ctx")
    for key, ref in AIPERF_AGENTIC.items():
        group, field = key.split(".")
        print(f"{key:30} {stats[group][field]:>9} {ref:>9}")
        assert stats[group][field] == pytest.approx(ref, rel=0.1), key
    ends = stats["session_ends"]
    assert ends["retire"] / 1131 == pytest.approx(297 / 1205, abs=0.05)  # forced retires at the context limit


# --- multimodal -----------------------------------------------------------------------------------------

WINDOW = {"users": 3, "turns": 4, "window": 5, "text_tokens": 20, "seed": 1, "image_width": 8, "image_height": 6}


def _mm_traffic(generator: str, params: dict) -> Traffic:
    return Traffic(kind="trace", description="test", dataset_type="single_turn", generator=generator,
                   params=params, file=f"mm/{generator}.jsonl")


def test_sliding_window_shares_all_but_one_image_with_the_users_previous_turn(tmp_path):
    path = ensure_trace(_mm_traffic("multimodal_sliding_window", WINDOW), root=tmp_path)
    rows = read_jsonl(path)
    assert len(rows) == 12 and rows[0]["session_id"] == "user_0" and rows[1]["session_id"] == "user_1"
    last: dict[str, list[str]] = {}
    for r in rows:
        assert len(r["images"]) == 5 and len(r["text"].split()) == 20
        if r["session_id"] in last:
            assert len(set(r["images"]) & set(last[r["session_id"]])) == 4
        last[r["session_id"]] = r["images"]
    users = [{i for r in rows if r["session_id"] == f"user_{u}" for i in r["images"]} for u in range(3)]
    assert [len(u) for u in users] == [4 + 5 - 1] * 3 and not (users[0] & users[1])
    manifest = read_manifest(path)["stats"]
    assert manifest["unique_images"] == 24 and manifest["image_reuse"] == pytest.approx(1 - 24 / 60, abs=1e-4)


def test_images_are_rendered_deterministically_and_re_rendered_when_missing(tmp_path):
    from PIL import Image

    path = ensure_trace(_mm_traffic("multimodal_sliding_window", WINDOW), root=tmp_path)
    first = path.parent / read_jsonl(path)[0]["images"][0]
    assert Image.open(first).size == (8, 6)
    pixels = Image.open(first).tobytes()
    first.unlink()
    ensure_trace(_mm_traffic("multimodal_sliding_window", WINDOW), root=tmp_path)
    assert Image.open(first).tobytes() == pixels
    other = path.parent / read_jsonl(path)[0]["images"][1]
    assert Image.open(other).tobytes() != pixels


def test_absolute_media_resolves_image_paths_for_aiperf(tmp_path):
    from featurebench.traces.images import absolute_media

    path = ensure_trace(_mm_traffic("multimodal_sliding_window", WINDOW), root=tmp_path)
    local = read_jsonl(absolute_media(path, tmp_path / "run" / "input.jsonl"))
    assert all(Path(i).is_absolute() and Path(i).exists() for r in local for i in r["images"])
    remote = read_jsonl(absolute_media(path, tmp_path / "run" / "k8s.jsonl", "http://images.ns:8080/mm"))
    assert remote[0]["images"][0] == "http://images.ns:8080/mm/" + read_jsonl(path)[0]["images"][0]
    assert [r["text"] for r in remote] == [r["text"] for r in read_jsonl(path)]


@pytest.mark.parametrize("requests, pool, reuse", [(1000, 200, 0.8), (40, 8, 0.8), (10, 20, 0.0)])
def test_image_pool_cycles_through_the_pool(tmp_path, requests, pool, reuse):
    params = {"requests": requests, "pool": pool, "text_tokens": 5, "seed": 2, "images": False}
    GENERATORS["image_pool"]({**params, "images": True, "image_width": 2, "image_height": 2}, tmp_path / "a.jsonl")
    rows = read_jsonl(tmp_path / "a.jsonl")
    names = [r["images"][0] for r in rows]
    assert len(set(names[:pool])) == min(pool, requests)  # first pass: no repeats
    assert 1 - len(set(names)) / len(names) == pytest.approx(reuse)


def test_image_pool_keeps_images_distinct_within_a_request(tmp_path):
    params = {"requests": 50, "pool": 4, "images_per_request": 3, "text_tokens": 1, "seed": 5,
              "image_width": 2, "image_height": 2}
    GENERATORS["image_pool"](params, tmp_path / "a.jsonl")
    assert all(len(set(r["images"])) == 3 for r in read_jsonl(tmp_path / "a.jsonl"))


def test_text_only_variant_keeps_order_and_text(tmp_path):
    with_images = ensure_trace(_mm_traffic("multimodal_sliding_window", WINDOW), root=tmp_path / "a")
    text_only = ensure_trace(_mm_traffic("multimodal_sliding_window", {**WINDOW, "images": False}), root=tmp_path / "b")
    a, b = read_jsonl(with_images), read_jsonl(text_only)
    assert [r["text"] for r in a] == [r["text"] for r in b] and all("images" not in r for r in b)
    assert not (text_only.parent / "images").exists()


# --- synthetic ------------------------------------------------------------------------------------------


def test_synthetic_description_and_fingerprint(tmp_path):
    from featurebench.traces import traffic_fingerprint

    params = {"requests": 12800, "isl": 8192, "osl": 1024, "seed": 100}
    traffic = Traffic(kind="synthetic", description="t", dataset_type="synthetic", generator="synthetic",
                      params=params, file="s/full.jsonl", isl=8192, osl=1024)
    path = ensure_trace(traffic, root=tmp_path)
    (body,) = read_jsonl(path)
    assert body["isl"] == 8192 and body["osl"] == 1024 and body["requests"] == 12800
    changed = traffic.model_copy(update={"params": {**params, "seed": 101}})
    assert body["params_sha256"] != json.loads(ensure_trace(changed, root=tmp_path / "x").read_text())["params_sha256"]
    assert traffic_fingerprint(traffic, root=tmp_path) == sha256_file(path)
    fileless = traffic.model_copy(update={"file": None, "generator": None})
    assert traffic_fingerprint(fileless) != traffic_fingerprint(fileless.model_copy(update={"osl": 512}))
    with pytest.raises(TraceError, match="params.osl = 1024 but traffic.osl = 512"):
        ensure_trace(traffic.model_copy(update={"osl": 512}), root=tmp_path)


# --- module entry ---------------------------------------------------------------------------------------


def test_module_entry_generates_and_reports_errors(capsys):
    from featurebench.traces.__main__ import main

    assert main(["generate", "qwen3-32b-kv-routing"]) == 0  # the committed file: verified, not rewritten
    assert "local.jsonl" in capsys.readouterr().out
    assert main(["generate", "no-such-benchmark"]) == 1
    assert "no benchmark 'no-such-benchmark'" in capsys.readouterr().err
