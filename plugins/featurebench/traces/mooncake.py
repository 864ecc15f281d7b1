"""Mooncake JSONL rules that AIPerf enforces or assumes, checked on a generator's rows.

AIPerf synthesizes a prompt from `hash_ids`: one id per `block_size` tokens, the last one possibly partial;
an id stands for its block *and* everything before it. So: len(hash_ids) == ceil(input_length / block_size),
an id always has the same predecessor and the same size (AIPerf raises a ConfigurationError when a partial
last block's id comes back as a full block), and new ids are the next consecutive integers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def write_jsonl(rows: list[dict], path: Path) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def check_rows(rows: list[dict], block_size: int = 512, consecutive: bool = True) -> None:
    """Raise ValueError naming the first row that breaks a rule.

    `consecutive`: new ids must be the next integers in file order (our generators always do this; real
    traces such as Dynamo's 1000-row fixture number blocks in another order).
    """
    predecessor: dict[int, int | None] = {}
    size: dict[int, tuple[int, int]] = {}  # id -> (tokens in its block, first row)
    next_new = 0
    last_ts = None
    for n, r in enumerate(rows):
        ids, isl = r["hash_ids"], r["input_length"]
        where = f"row {n}"
        ts = r.get("timestamp")
        if ts is not None:
            if not isinstance(ts, int) or (last_ts is not None and ts < last_ts):
                raise ValueError(f"{where}: timestamp {ts!r} is not an int >= the previous one")
            last_ts = ts
        if isl <= 0 or r["output_length"] <= 0:
            raise ValueError(f"{where}: lengths must be positive")
        if len(ids) != math.ceil(isl / block_size):
            raise ValueError(f"{where}: {len(ids)} ids for {isl} tokens (want ceil({isl}/{block_size}))")
        for i, h in enumerate(ids):
            before = ids[i - 1] if i else None
            tokens = min(block_size, isl - i * block_size)
            if size.setdefault(h, (tokens, n))[0] != tokens:
                raise ValueError(f"{where}: id {h} has {tokens} tokens, {size[h][0]} in row {size[h][1]}")
            if h in predecessor:
                if predecessor[h] != before:
                    raise ValueError(f"{where}: id {h} follows {before}, elsewhere {predecessor[h]}")
            elif consecutive and h != next_new:
                raise ValueError(f"{where}: new id {h}, expected the next consecutive id {next_new}")
            else:
                predecessor[h] = before
                next_new = max(next_new, h) + 1
