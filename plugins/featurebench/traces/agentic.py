"""`agentic`: agentic coding sessions in AIPerf's Mooncake-compatible agentic format (Kimi-K2.5 traffic).

Our own re-implementation of the model behind `aiperf synthesize agentic-code` (reference/aiperf.md section 3),
so the trace is made here instead of downloaded. Prefix layers, all in `block_size`-token blocks:

- L1: tools + system prompt, the same blocks in every session (L1 and L1.5 rounded up to whole blocks);
- L1.5: repository context shared by the sessions of one group (groups drawn Zipf-like);
- L2: the session's own starting context (opened files);
- L3: history - each later turn adds new tokens (tool results, user text) after the previous answer.

A session ends by a reset (probability `reset_probability`, growing with the context as in AIPerf:
p x (1 + (scaling - 1) x context / max)) or when the next turn's whole prompt would exceed `max_isl`.
Restart splits (AIPerf's `is_restart`, ~6% of its sessions) are not modelled.

Rows (file order: session by session, sessions by start time):
  turn 0: {session_id, input_length = L1 + L1.5 + L2, output_length, hash_ids, timestamp (ms), group_id}
  later:  {session_id, input_length = new tokens only, output_length, hash_ids (new blocks), delay (ms)}
AIPerf re-sends the history itself, so a later turn's hash_ids cover only its new tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from featurebench.traces import rand
from featurebench.traces.mooncake import check_rows, write_jsonl

VERSION = 1


@dataclass(frozen=True)
class Params:
    sessions: int
    seed: int
    # defaults: AIPerf's 1k_sessions_200k_ctx config (quality.json in ai-dynamo/aiperf @e0eca51)
    system_prompt_tokens: int = 32000  # L1
    group_context_tokens: int = 10000  # L1.5
    groups: int = 100
    zipf_alpha: float = 0.6
    mean_session_context: float = 15000  # L2
    median_session_context: float | None = None  # None: mean / 3, the shape of AIPerf's config (15000 / 5000)
    mean_new_tokens: float = 6000
    median_new_tokens: float | None = None  # None: mean x 2/3 (6000 / 4000)
    mean_osl: float = 1000
    median_osl: float | None = None  # None: mean x 0.8 (1000 / 800)
    max_isl: int = 200000  # context limit: a session whose next prompt would exceed it retires
    reset_probability: float = 0.05
    mean_turns: float | None = None  # shorthand for reset_probability = 1 / mean_turns (before retires)
    reset_context_scaling: float = 1.5
    agentic_fraction: float = 0.7  # share of gaps that are tool calls (short) rather than a human (long)
    agentic_delay_ms: float = 5000
    human_delay_ms: float = 30000
    delay_skew: float = 4.0  # mean / median of each delay kind (heavy tail: most gaps are short)
    max_delay_ms: float | None = 60000
    arrival_s: float = 3600  # session starts spread over this window (ignored by closed-loop runs)
    block_size: int = 512

    def __post_init__(self):
        if self.mean_turns is not None:
            if self.mean_turns < 1:
                raise ValueError("mean_turns must be >= 1")
            object.__setattr__(self, "reset_probability", 1.0 / self.mean_turns)
        for name, ratio in [("session_context", 1 / 3), ("new_tokens", 2 / 3), ("osl", 0.8)]:
            if getattr(self, f"median_{name}") is None:
                object.__setattr__(self, f"median_{name}", getattr(self, f"mean_{name}") * ratio)
        if self.sessions < 1 or self.groups < 1:
            raise ValueError("need sessions >= 1 and groups >= 1")
        if self.shared_blocks(1) + self.shared_blocks(1.5) >= self.max_isl // self.block_size:
            raise ValueError(f"system_prompt_tokens + group_context_tokens ({self.system_prompt_tokens} + "
                             f"{self.group_context_tokens}) must leave room below max_isl {self.max_isl}")

    def shared_blocks(self, layer: float) -> int:
        """Shared layers end on a block boundary (a shared partial block would break AIPerf's rules)."""
        tokens = self.system_prompt_tokens if layer == 1 else self.group_context_tokens
        return math.ceil(tokens / self.block_size)


class _Ids:
    """Block ids handed out in file order, so new ids are consecutive."""

    def __init__(self):
        self.next = 0

    def take(self, n: int) -> list[int]:
        ids = list(range(self.next, self.next + n))
        self.next += n
        return ids


def generate(params: dict, path: Path) -> dict:
    p = Params(**params)
    r_size, r_time = rand.rng(p.seed, "sizes"), rand.rng(p.seed, "time")
    bs = p.block_size
    ids = _Ids()
    layer1: list[int] = []  # taken on first use, so the first row's ids start at 0
    groups: dict[int, list[int]] = {}
    shared = (p.shared_blocks(1) + p.shared_blocks(1.5)) * bs
    rows: list[dict] = []
    ends = {"reset": 0, "retire": 0}
    start_ms = 0.0
    for s in range(p.sessions):
        start_ms += rand.exponential(r_time, 1000.0 * p.arrival_s / p.sessions)
        group = rand.zipf_index(r_size, p.groups, p.zipf_alpha)
        layer2 = max(1, round(rand.lognormal_mm(r_size, p.mean_session_context, p.median_session_context,
                                                cap=p.max_isl - shared - 1)))
        if not layer1:
            layer1 = ids.take(p.shared_blocks(1))
        if group not in groups:
            groups[group] = ids.take(p.shared_blocks(1.5))
        isl = shared + layer2
        osl = max(1, round(rand.lognormal_mm(r_size, p.mean_osl, p.median_osl)))
        rows.append({"session_id": f"sess-{s:05d}", "input_length": isl, "output_length": osl,
                     "hash_ids": layer1 + groups[group] + ids.take(math.ceil(layer2 / bs)),
                     "timestamp": int(start_ms), "group_id": group})
        context = isl + osl
        while True:
            new = max(1, round(rand.lognormal_mm(r_size, p.mean_new_tokens, p.median_new_tokens)))
            if context + new > p.max_isl:
                ends["retire"] += 1
                break
            reset = p.reset_probability * (1 + (p.reset_context_scaling - 1) * context / p.max_isl)
            if r_size.random() < reset:
                ends["reset"] += 1
                break
            mean = p.human_delay_ms if r_time.random() >= p.agentic_fraction else p.agentic_delay_ms
            delay = rand.lognormal_mm(r_time, mean, mean / p.delay_skew, cap=p.max_delay_ms)
            osl = max(1, round(rand.lognormal_mm(r_size, p.mean_osl, p.median_osl)))
            rows.append({"session_id": f"sess-{s:05d}", "input_length": new, "output_length": osl,
                         "hash_ids": ids.take(math.ceil(new / bs)), "delay": round(delay, 1)})
            context += new + osl
    check_rows(rows, bs)  # never write a file AIPerf would reject
    write_jsonl(rows, path)
    return agentic_stats(rows, ends)


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"mean": round(sum(ordered) / len(ordered), 1), "median": ordered[len(ordered) // 2],
            "max": ordered[-1]} if ordered else {}


def agentic_stats(rows: list[dict], ends: dict | None = None) -> dict:
    """Session-level statistics, named like AIPerf's quality.json for the agentic generator."""
    first = [r for r in rows if "timestamp" in r]
    later = [r for r in rows if "timestamp" not in r]
    turns: dict[str, int] = {}
    for r in rows:
        turns[r["session_id"]] = turns.get(r["session_id"], 0) + 1
    stats = {
        "sessions": len(first),
        "requests": len(rows),
        "turns_per_session": _summary(list(turns.values())),
        "initial_context": _summary([r["input_length"] for r in first]),
        "new_tokens_per_turn": _summary([r["input_length"] for r in later]),
        "generation_length": _summary([r["output_length"] for r in rows]),
        "inter_turn_delay_ms": _summary([r["delay"] for r in later]),
        "groups_used": len({r["group_id"] for r in first}),
    }
    if ends is not None:
        stats["session_ends"] = ends
    return stats
