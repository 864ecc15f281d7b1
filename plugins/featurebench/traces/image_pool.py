"""`image_pool`: image requests drawn from a small pool of images (Qwen3-VL embedding cache traffic).

`requests` rows, each `images_per_request` distinct images + `text_tokens` fresh pseudo-words. Images are
drawn without replacement from a pool of `pool` images, and the draw starts over (new shuffle) when the
pool is used up, so the first `pool` images are all unique and every later one is a repeat: 1000 requests
x 1 image over 200 gives exactly 80% reuse.
Rows: {"text": "...", "images": ["images/<stem>/p0007.png"], "output_length": n (if set)}, paths relative
to the trace file. `image_mode` says how they are resolved at run time (images.absolute_media): `base64`
= absolute local paths AIPerf inlines; `http` = URLs under a base the server fetches from (the published
run used COCO URLs; ours are the same rendered images served from inside the cluster, no egress needed).
`images: false` keeps the request order and text without images (the Dynamo mocker takes no images).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from featurebench.traces import images, rand, textgen
from featurebench.traces.mooncake import write_jsonl
from featurebench.traces.stats import image_stats

VERSION = 1


@dataclass(frozen=True)
class Params:
    requests: int
    pool: int
    text_tokens: int
    seed: int
    images_per_request: int = 1
    images: bool = True
    image_mode: Literal["base64", "http"] = "base64"
    image_width: int = 64  # small by default; COCO-like full size is 640 x 480
    image_height: int = 64
    output_length: int | None = None  # per-row forced output (AIPerf `output_length`); None: spec's load decides

    def __post_init__(self):
        if min(self.requests, self.pool, self.images_per_request) < 1 or self.text_tokens < 0:
            raise ValueError("requests, pool and images_per_request must be >= 1, text_tokens >= 0")
        if self.images_per_request > self.pool:
            raise ValueError("images_per_request cannot exceed the pool")
        if self.image_mode not in ("base64", "http"):
            raise ValueError("image_mode must be base64 or http")
        if min(self.image_width, self.image_height) < 1:
            raise ValueError("image_width and image_height must be >= 1")


def _keys(p: Params) -> list[str]:
    return [f"p{k:04d}" for k in range(p.pool)]


def _shuffled(r, items: list) -> list:
    """Fisher-Yates on random() only (Random.shuffle is not guaranteed stable across Python versions)."""
    items = list(items)
    for i in range(len(items) - 1, 0, -1):
        j = int(r.random() * (i + 1))
        items[i], items[j] = items[j], items[i]
    return items


def _draw(p: Params) -> list[list[str]]:
    """Each request's images, taken in order from repeated shuffles of the pool, distinct within a request."""
    r = rand.rng(p.seed, "pick")
    stream: deque[str] = deque()
    out = []
    for _ in range(p.requests):
        picked: list[str] = []
        skipped: list[str] = []  # a repeat inside one request waits for the next request
        while len(picked) < p.images_per_request:
            if not stream:
                stream.extend(_shuffled(r, _keys(p)))
            key = stream.popleft()
            (skipped if key in picked else picked).append(key)
        stream.extendleft(reversed(skipped))
        out.append(picked)
    return out


def generate(params: dict, path: Path) -> dict:
    p = Params(**params)
    r_text = rand.rng(p.seed, "text")
    rows = []
    for keys in _draw(p):
        row = {"text": textgen.words(r_text, p.text_tokens)}
        if p.images:
            row["images"] = [images.relative_name(path, k) for k in keys]
        if p.output_length:
            row["output_length"] = p.output_length
        rows.append(row)
    write_jsonl(rows, path)
    if p.images:
        images.ensure_images(path, p.seed, _keys(p), (p.image_width, p.image_height), force=True)
    return image_stats(rows) | ({"image_size": [p.image_width, p.image_height]} if p.images else {})


def ensure_assets(params: dict, path: Path) -> int:
    p = Params(**params)
    return images.ensure_images(path, p.seed, _keys(p) if p.images else [], (p.image_width, p.image_height))
