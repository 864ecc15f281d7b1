"""Deterministic PNG images for multimodal traces, rendered locally (never downloaded, never committed).

An image is uniform RGB noise (as Dynamo's multimodal dataset generator uses) whose pixels are a pure
function of (seed, key, size): SHAKE-256 of "seed:key" - stable across Python, numpy and Pillow releases.
Rows keep paths relative to the trace file; `absolute_media` writes the copy AIPerf reads.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def image_dir(trace: Path) -> Path:
    """include/traces/<id>/images/<trace stem>/ (gitignored)."""
    return trace.parent / "images" / trace.stem


def relative_name(trace: Path, key: str, ext: str = "png") -> str:
    return f"images/{trace.stem}/{key}.{ext}"


def render(path: Path, seed: int, key: str, size: tuple[int, int]) -> None:
    from PIL import Image  # heavy import, only when images are made

    width, height = size
    pixels = hashlib.shake_256(f"{seed}:{key}".encode()).digest(width * height * 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", (width, height), pixels).save(path, compress_level=1)  # noise barely compresses


def ensure_images(trace: Path, seed: int, keys: list[str], size: tuple[int, int], force: bool = False) -> int:
    """Render the images that are missing (all of them with force); returns how many were rendered."""
    made = 0
    for key in keys:
        path = trace.parent / relative_name(trace, key)
        if force or not path.exists():
            render(path, seed, key, size)
            made += 1
    return made


def absolute_media(trace: Path, out: Path, media_root: Path | str | None = None) -> Path:
    """Write `out`: the trace with every image path made absolute under `media_root`.

    AIPerf's base64 mode opens the paths in the rows itself, so they must not depend on its working
    directory. `media_root` defaults to the trace's own folder; on Kubernetes pass the folder where the
    load pod sees include/traces/<id>/ (e.g. a mounted volume).
    """
    root = str(media_root if media_root is not None else trace.parent.resolve()).rstrip("/")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(trace) as src, open(out, "w") as dst:
        for line in src:
            row = json.loads(line)
            row["images"] = [f"{root}/{name}" for name in row.get("images", [])]
            dst.write(json.dumps(row, separators=(",", ":")) + "\n")
    return out
