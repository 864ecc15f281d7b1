"""Deterministic traffic generators: spec `traffic` (generator + params) -> a file under include/traces.

Nothing is downloaded: every trace is made from its params and seed, and a `<file>.manifest.json` next to
it records the generator, its version, the params, the file's sha256 and summary stats, so results can
cite exactly what was replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from featurebench.errors import TraceError
from featurebench.settings import TRACES_DIR
from featurebench.spec import Traffic
from featurebench.traces import agentic, image_pool, multimodal_sliding_window, prefix_reuse, synthetic
from featurebench.traces.manifest import manifest_path, read_manifest, sha256_file, write_manifest


@dataclass(frozen=True)
class Generator:
    name: str
    version: int  # bump when the output for the same params changes, so old files get regenerated
    generate: Callable[[dict, Path], dict]  # (params, path) -> stats; writes the file
    params: Callable[..., object]  # the generator's Params class: raises TypeError/ValueError on bad params
    assets: Callable[[dict, Path], int] | None = None  # re-renders missing side files (images)

    def check(self, params: dict) -> None:
        """Validate params without generating anything (specs are checked before any run)."""
        try:
            self.params(**params)
        except (TypeError, ValueError) as exc:
            raise TraceError(f"generator {self.name} rejects params {params}: {exc}") from exc

    def __call__(self, params: dict, path: Path) -> dict:
        return self.generate(params, path)


GENERATORS: dict[str, Generator] = {
    g.name: g
    for g in [
        Generator("prefix_reuse", prefix_reuse.VERSION, prefix_reuse.generate, prefix_reuse.Params),
        Generator("agentic", agentic.VERSION, agentic.generate, agentic.Params),
        Generator("multimodal_sliding_window", multimodal_sliding_window.VERSION, multimodal_sliding_window.generate,
                  multimodal_sliding_window.Params, multimodal_sliding_window.ensure_assets),
        Generator("image_pool", image_pool.VERSION, image_pool.generate, image_pool.Params, image_pool.ensure_assets),
        Generator("synthetic", synthetic.VERSION, synthetic.generate, synthetic.Params),
    ]
}


def generator_for(name: str | None) -> Generator:
    if name not in GENERATORS:
        raise TraceError(f"unknown trace generator {name!r}; known: {sorted(GENERATORS)}")
    return GENERATORS[name]


def _is_current(manifest: dict | None, gen: Generator, params: dict) -> bool:
    return (
        manifest is not None
        and manifest.get("generator") == gen.name
        and manifest.get("generator_version") == gen.version
        and manifest.get("params") == params
    )


def traffic_fingerprint(traffic: Traffic, root: Path = TRACES_DIR) -> str:
    """What results cite as the workload: the trace file's sha256, or for synthetic traffic without a file
    the sha256 of its canonical settings."""
    if traffic.file is not None:
        return sha256_file(ensure_trace(traffic, root))
    body = {"kind": traffic.kind, "isl": traffic.isl, "osl": traffic.osl, "params": traffic.params}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def ensure_trace(traffic: Traffic, root: Path = TRACES_DIR, full: bool = False) -> Path:
    """The trace file for `traffic`, generated if missing or made from other params, else verified.

    `full` marks the run-time full-size generation (the file is not committed; see include/traces/.gitignore);
    it is recorded in the manifest and does not change the output, which depends on the params alone.
    A file whose sha256 differs from its manifest was edited by hand: that is an error, never silently fixed.
    """
    if traffic.file is None:
        raise TraceError(f"traffic {traffic.description!r} names no file (synthetic traffic needs none)")
    gen = generator_for(traffic.generator)
    path = Path(root) / traffic.file
    params = dict(traffic.params)
    for key in ("isl", "osl"):  # synthetic traffic states them twice; they must agree
        if getattr(traffic, key) is not None and key in params and params[key] != getattr(traffic, key):
            raise TraceError(f"{traffic.file}: params.{key} = {params[key]} but traffic.{key} = {getattr(traffic, key)}")
    manifest = read_manifest(path)
    if path.exists() and _is_current(manifest, gen, params):
        actual = sha256_file(path)
        if actual != manifest["sha256"]:
            raise TraceError(
                f"{path}: sha256 {actual} does not match its manifest ({manifest['sha256']}); the file was "
                "changed after generation. Delete it and its manifest to regenerate."
            )
        if gen.assets is not None:  # images are not committed: render any that are missing
            gen.assets(params, path)
        return path
    try:
        gen.check(params)
    except TraceError as exc:
        raise TraceError(f"{traffic.file}: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    # the manifest is written last: a generation that dies halfway leaves no manifest and is redone
    manifest_path(path).unlink(missing_ok=True)
    stats = gen(params, path)
    write_manifest(path, gen.name, gen.version, params, {**stats, "profile": "full" if full else "local"})
    return path


def media_mode(traffic: Traffic) -> str | None:
    """How a trace's images reach the server on Kubernetes: 'base64' (the load pod inlines local files),
    'http' (the server fetches URLs the load pod serves), or None for traffic without images."""
    if traffic.kind != "trace" or generator_for(traffic.generator).assets is None:
        return None
    if traffic.params.get("images") is False:
        return None
    return traffic.params.get("image_mode", "base64")


def image_names(trace: Path) -> list[str]:
    """The images a trace's rows name (paths relative to the trace's folder), each once, in order."""
    names: dict[str, None] = {}
    with open(trace) as f:
        for line in f:
            if line.strip():
                names.update(dict.fromkeys(json.loads(line).get("images") or []))
    return list(names)
