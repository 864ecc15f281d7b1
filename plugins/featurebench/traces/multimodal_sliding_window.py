"""`multimodal_sliding_window`: users x turns of text + a sliding window of images (Qwen3.6 traffic).

Like Dynamo's `benchmarks/multimodal/jsonl/main.py sliding-window`: user i sends `turns` requests; turn t
carries images t .. t + window - 1 of the user's own image sequence, so each turn shares window - 1
images with the user's previous turn (turns + window - 1 unique images per user, none shared between
users), plus `text_tokens` fresh pseudo-words. Rows are AIPerf `single_turn` with `session_id` "user_<i>"
(AIPerf issues rows of one session in order), written turn by turn so every user is active at once:
  {"session_id": "user_3", "text": "...", "images": ["images/<stem>/u003_i0004.png", ...]}
Image paths are relative to the trace file (images.absolute_media writes the copy AIPerf reads).
`images: false` keeps the same sessions and text without images (the Dynamo mocker takes no images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from featurebench.traces import images, rand, textgen
from featurebench.traces.mooncake import write_jsonl
from featurebench.traces.stats import image_stats

VERSION = 1


@dataclass(frozen=True)
class Params:
    users: int
    turns: int
    window: int
    text_tokens: int
    seed: int
    images: bool = True
    image_width: int = 64  # small by default; the full-size spec asks for 2400 x 1080
    image_height: int = 64
    output_length: int | None = None  # per-row forced output (AIPerf `output_length`); None: spec's load decides

    def __post_init__(self):
        if min(self.users, self.turns, self.window) < 1 or self.text_tokens < 0:
            raise ValueError("users, turns and window must be >= 1, text_tokens >= 0")
        if min(self.image_width, self.image_height) < 1:
            raise ValueError("image_width and image_height must be >= 1")


def _key(user: int, k: int) -> str:
    return f"u{user:03d}_i{k:04d}"


def _keys(p: Params) -> list[str]:
    return [_key(u, k) for u in range(p.users) for k in range(p.turns + p.window - 1)] if p.images else []


def generate(params: dict, path: Path) -> dict:
    p = Params(**params)
    r = rand.rng(p.seed, "text")
    rows = []
    for t in range(p.turns):
        for u in range(p.users):
            row = {"session_id": f"user_{u}", "text": textgen.words(r, p.text_tokens)}
            if p.images:
                row["images"] = [images.relative_name(path, _key(u, t + k)) for k in range(p.window)]
            if p.output_length:
                row["output_length"] = p.output_length
            rows.append(row)
    write_jsonl(rows, path)
    images.ensure_images(path, p.seed, _keys(p), (p.image_width, p.image_height), force=True)
    return image_stats(rows) | ({"image_size": [p.image_width, p.image_height]} if p.images else {})


def ensure_assets(params: dict, path: Path) -> int:
    p = Params(**params)
    return images.ensure_images(path, p.seed, _keys(p), (p.image_width, p.image_height))
