"""`image_pool`: image requests drawn from a small pool of images (Qwen3-VL embedding cache traffic).

`requests` rows, each `images_per_request` distinct images + `text_tokens` fresh pseudo-words. Images are
drawn without replacement from a pool of `pool` images, and the draw starts over (new shuffle) when the
pool is used up, so the first `pool` images are all unique and every later one is a repeat: 1000 requests
x 1 image over 200 gives exactly 80% reuse.
Rows: {"text": "...", "images": ["images/<stem>/p0007.png"], "output_length": n (if set)}, paths relative
to the trace file. `image_mode` says how they are resolved at run time (images.absolute_media): `base64`
= absolute local paths AIPerf inlines; `http` = URLs under a base the server fetches from (the published
run used COCO URLs; ours are rendered images served from inside the cluster, no egress needed).
`image_style: photo` renders photo-like JPEGs in COCO's spread of sizes (traces.photos) instead of noise PNGs
of image_width x image_height; their pixel checksum goes into the manifest, and images re-rendered at run
time are checked against it.
`images: false` keeps the request order and text without images (the Dynamo mocker takes no images).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from featurebench.traces import images, photos, rand, textgen
from featurebench.traces.manifest import read_manifest
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
    image_style: Literal["noise", "photo"] = "noise"
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
        if self.image_style not in ("noise", "photo"):
            raise ValueError("image_style must be noise or photo")
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


def _ext(p: Params) -> str:
    return "jpg" if p.image_style == "photo" else "png"


def _render_photos(p: Params, path: Path, only_missing: bool) -> tuple[int, dict[str, str] | None]:
    """Render the pool's photos (the missing ones only, or all); (how many, every key's pixel checksum when
    all were rendered now)."""
    hashes, made = {}, 0
    for key in _keys(p):
        target = path.parent / images.relative_name(path, key, "jpg")
        if only_missing and target.exists():
            continue
        hashes[key] = photos.render(target, p.seed, key)
        made += 1
    return made, (hashes if made == p.pool else None)


def generate(params: dict, path: Path) -> dict:
    p = Params(**params)
    r_text = rand.rng(p.seed, "text")
    rows = []
    for keys in _draw(p):
        row = {"text": textgen.words(r_text, p.text_tokens)}
        if p.images:
            row["images"] = [images.relative_name(path, k, _ext(p)) for k in keys]
        if p.output_length:
            row["output_length"] = p.output_length
        rows.append(row)
    write_jsonl(rows, path)
    if not p.images:
        return image_stats(rows)
    if p.image_style == "photo":
        _, hashes = _render_photos(p, path, only_missing=False)
        sizes = [photos.size_for(p.seed, k) for k in _keys(p)]
        return image_stats(rows) | {
            "image_style": "photo", "pixels_sha256": photos.combined_sha256(hashes),
            "image_pixels_mean": round(sum(w * h for w, h in sizes) / len(sizes)),
            "image_shapes": len(set(sizes)), "landscape_share": round(sum(w > h for w, h in sizes) / len(sizes), 3)}
    images.ensure_images(path, p.seed, _keys(p), (p.image_width, p.image_height), force=True)
    return image_stats(rows) | {"image_size": [p.image_width, p.image_height]}


def ensure_assets(params: dict, path: Path) -> int:
    p = Params(**params)
    if not p.images:
        return 0
    if p.image_style != "photo":
        return images.ensure_images(path, p.seed, _keys(p), (p.image_width, p.image_height))
    made, _ = _render_photos(p, path, only_missing=True)
    if made:  # what was rendered here must be what the manifest recorded
        expected = ((read_manifest(path) or {}).get("stats") or {}).get("pixels_sha256")
        hashes = {k: photos.pixel_sha256(p.seed, k) for k in _keys(p)}
        if expected and photos.combined_sha256(hashes) != expected:
            raise ValueError(f"{path}: the images rendered here differ from the manifest's pixels_sha256 {expected}")
    return made
