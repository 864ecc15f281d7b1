"""`<file>.manifest.json`: what made a trace file (generator, version, params, seed) and its sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(path: Path) -> dict | None:
    mpath = manifest_path(path)
    if not mpath.exists():
        return None
    try:
        return json.loads(mpath.read_text())
    except json.JSONDecodeError:
        return None  # unreadable manifest: treated as missing, the trace is regenerated


def write_manifest(path: Path, generator: str, version: int, params: dict, stats: dict) -> dict:
    manifest = {
        "file": path.name,
        "generator": generator,
        "generator_version": version,
        "params": params,
        "seed": params.get("seed"),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "stats": stats,
    }
    manifest_path(path).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
