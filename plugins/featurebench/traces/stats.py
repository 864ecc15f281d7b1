"""Statistics of generated traces, recorded in their manifests.

Mooncake traces, defined as the FAST25 trace's published numbers are:
- block reuse ratio: unique blocks that appear in more than one request / unique blocks
- cache efficiency: repeated block references / all block references (an infinite cache's hit rate)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def mooncake_stats(rows: Iterable[dict]) -> dict:
    rows = list(rows)
    isl = [r["input_length"] for r in rows]
    osl = [r["output_length"] for r in rows]
    times = [r.get("timestamp", 0) for r in rows]
    duration_s = (max(times) - min(times)) / 1000.0 if rows else 0.0
    requests_with = Counter()
    for r in rows:
        requests_with.update(set(r["hash_ids"]))
    refs = sum(len(r["hash_ids"]) for r in rows)
    unique = len(requests_with)
    shared = sum(1 for n in requests_with.values() if n > 1)
    per_s = duration_s or float("nan")
    return {
        "requests": len(rows),
        "duration_s": round(duration_s, 3),
        "request_rate": round(len(rows) / per_s, 3),
        "input_tok_per_s": round(sum(isl) / per_s, 1),
        "isl_mean": round(sum(isl) / len(isl), 1),
        "isl_p50": _pct(isl, 0.5),
        "isl_min": min(isl),
        "isl_max": max(isl),
        "osl_mean": round(sum(osl) / len(osl), 1),
        "osl_p50": _pct(osl, 0.5),
        "osl_max": max(osl),
        "unique_blocks": unique,
        "block_refs": refs,
        "block_reuse_ratio": round(shared / unique, 4),
        "cache_efficiency": round((refs - unique) / refs, 4),
    }


def image_stats(rows: list[dict]) -> dict:
    """Single-turn multimodal rows: image reuse = repeated image references / all references."""
    refs = [name for r in rows for name in r.get("images", [])]
    words = [len(r["text"].split()) for r in rows]
    return {
        "requests": len(rows),
        "sessions": len({r["session_id"] for r in rows if "session_id" in r}),
        "image_refs": len(refs),
        "unique_images": len(set(refs)),
        "image_reuse": round(1 - len(set(refs)) / len(refs), 4) if refs else 0.0,
        "text_words_mean": round(sum(words) / len(words), 1),
    }
