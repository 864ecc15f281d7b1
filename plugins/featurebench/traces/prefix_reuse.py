"""`prefix_reuse`: multi-turn conversation traffic in Mooncake format (FAST25-like prefix reuse).

Each of `sessions` users sends turns spread over `duration_s`, with think time between turns. A turn either
continues the user's current thread - its prompt is the previous prompt + the previous answer + new user
text, so it shares every full block of the previous prompt - or, with probability 1 - `followup_prob`,
opens a new thread ("new chat") that shares only the system prompt. Every prompt starts with the same
`system_prompt_blocks` full blocks. A thread that would outgrow `max_isl` starts over.

Rows: {timestamp (ms, sorted), input_length, output_length, hash_ids} with `block_size`-token blocks.
Block ids follow AIPerf's rules: one id per block (the last one may be partial), equal ids mean an equal
prefix, a partial last block's id is never reused, new ids are the next consecutive integers in file order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from featurebench.traces import rand
from featurebench.traces.mooncake import check_rows, write_jsonl
from featurebench.traces.stats import mooncake_stats

VERSION = 1


@dataclass(frozen=True)
class Params:
    requests: int
    duration_s: float
    sessions: int
    mean_turns: float  # must agree with requests / sessions; kept because specs state it for readers
    system_prompt_blocks: int
    mean_isl: float
    mean_osl: float
    max_isl: int
    seed: int
    followup_prob: float = 0.3  # calibrated: 36.7% cache efficiency, 23.6% block reuse at the FAST25 params
    think_time_s: float | None = None  # mean gap between a user's turns; default duration / (4 x turns)
    block_size: int = 512
    isl_sigma: float = 1.0  # log-space spread of the new user text per turn
    osl_sigma: float = 0.8
    max_osl: int | None = None  # default 8 x mean_osl

    def __post_init__(self):
        if self.requests < self.sessions or self.sessions < 1:
            raise ValueError("need sessions >= 1 and requests >= sessions")
        per_user = self.requests / self.sessions
        if abs(per_user - self.mean_turns) > max(0.5, 0.1 * self.mean_turns):
            raise ValueError(f"mean_turns {self.mean_turns} disagrees with requests/sessions = {per_user:.2f}")
        if self.max_isl <= self.system_prompt_blocks * self.block_size:
            raise ValueError("max_isl must exceed the system prompt")
        if not 0 <= self.followup_prob <= 1:
            raise ValueError("followup_prob must be in [0, 1]")


@dataclass
class _Turn:
    session: int
    turn: int
    new_thread: bool
    new_text: float  # relative size of the new user text (mean 1), scaled during calibration
    osl: int
    timestamp: int
    isl: int = 0


def _draw_turns(p: Params) -> list[list[_Turn]]:
    """All random draws, made once; lengths are fitted afterwards without drawing again."""
    counts = rand.allocate(rand.rng(p.seed, "turns"), p.requests, p.sessions)
    r_text, r_out, r_time = rand.rng(p.seed, "text"), rand.rng(p.seed, "osl"), rand.rng(p.seed, "time")
    max_osl = p.max_osl or int(8 * p.mean_osl)
    think_ms = 1000.0 * (p.think_time_s if p.think_time_s is not None else p.duration_s / (4 * p.mean_turns))
    duration_ms = 1000.0 * p.duration_s
    sessions = []
    for s, n in enumerate(counts):
        gaps = [rand.exponential(r_time, think_ms) for _ in range(n - 1)]
        if sum(gaps) > 0.9 * duration_ms:  # a very long session is squeezed into the window
            gaps = [g * 0.9 * duration_ms / sum(gaps) for g in gaps]
        start = r_time.random() * (duration_ms - sum(gaps))
        turns, t = [], start
        for k in range(n):
            if k:
                t += max(1.0, gaps[k - 1])  # a follow-up always comes strictly later
            turns.append(
                _Turn(
                    session=s,
                    turn=k,
                    new_thread=k == 0 or r_text.random() >= p.followup_prob,
                    new_text=rand.lognormal(r_text, 1.0, p.isl_sigma),
                    osl=min(max_osl, max(1, round(rand.lognormal(r_out, p.mean_osl, p.osl_sigma)))),
                    timestamp=int(t),
                )
            )
        sessions.append(turns)
    return sessions


def _fit_lengths(p: Params, sessions: list[list[_Turn]], scale: float) -> float:
    """Set every turn's ISL for a new-text scale (tokens per unit); return the mean ISL."""
    system = p.system_prompt_blocks * p.block_size
    total = 0
    for turns in sessions:
        prev = None
        for t in turns:
            new = max(1, round(scale * t.new_text))
            grown = prev.isl + prev.osl + new if prev is not None else p.max_isl + 1
            if t.new_thread or grown > p.max_isl:
                t.new_thread = True
                t.isl = min(system + new, p.max_isl)
            else:
                t.isl = grown
            prev = t
            total += t.isl
    return total / p.requests


def _calibrate(p: Params, sessions: list[list[_Turn]]) -> None:
    """Find the new-text scale that gives `mean_isl` (the mean is monotone in the scale)."""
    flags = [[t.new_thread for t in turns] for turns in sessions]
    system = p.system_prompt_blocks * p.block_size
    scale = max(1.0, p.mean_isl - system)
    for _ in range(30):
        for turns, f in zip(sessions, flags):  # the cap may have forced new threads: start from the draw
            for t, nt in zip(turns, f):
                t.new_thread = nt
        mean = _fit_lengths(p, sessions, scale)
        if abs(mean - p.mean_isl) < 0.001 * p.mean_isl:
            break
        scale *= max(0.2, min(5.0, (p.mean_isl - system) / max(1.0, mean - system)))


def _assign_blocks(p: Params, rows: list[_Turn]) -> list[list[int]]:
    """Block ids in file order: a continuation reuses its parent's full blocks, everything else is new."""
    system_ids = list(range(p.system_prompt_blocks))
    next_id = p.system_prompt_blocks
    last_ids: dict[int, tuple[_Turn, list[int]]] = {}  # session -> (its latest turn, that turn's ids)
    out = []
    for t in rows:
        if t.new_thread:
            prefix = system_ids
        else:
            parent, parent_ids = last_ids[t.session]
            prefix = parent_ids[: parent.isl // p.block_size]  # full blocks only, never the partial last
        fresh = math.ceil(t.isl / p.block_size) - len(prefix)
        ids = prefix + list(range(next_id, next_id + fresh))
        next_id += fresh
        last_ids[t.session] = (t, ids)
        out.append(ids)
    return out


def generate(params: dict, path: Path) -> dict:
    p = Params(**params)
    sessions = _draw_turns(p)
    _calibrate(p, sessions)
    rows = sorted((t for turns in sessions for t in turns), key=lambda t: (t.timestamp, t.session, t.turn))
    t0 = rows[0].timestamp
    records = [
        {"timestamp": t.timestamp - t0, "input_length": t.isl, "output_length": t.osl, "hash_ids": ids}
        for t, ids in zip(rows, _assign_blocks(p, rows))
    ]
    check_rows(records, p.block_size)  # never write a file AIPerf would reject
    write_jsonl(records, path)
    return mooncake_stats(records)
