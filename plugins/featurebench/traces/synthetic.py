"""`synthetic`: fixed ISL/OSL traffic that AIPerf synthesizes itself (Llama topology benchmark).

There is no prompt file: AIPerf makes the prompts from --synthetic-input-tokens-mean/--output-tokens-mean
and its random seed. What we write is a small JSON description of those settings plus the sha256 of its
canonical form, so results can cite the exact workload like any trace. The file is one JSON line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

VERSION = 1


@dataclass(frozen=True)
class Params:
    isl: int
    osl: int
    seed: int  # AIPerf --random-seed
    requests: int | None = None  # AIPerf --num-dataset-entries: how many distinct prompts it makes
    isl_stddev: int = 0
    osl_stddev: int = 0

    def __post_init__(self):
        if self.isl < 1 or self.osl < 1 or self.isl_stddev < 0 or self.osl_stddev < 0:
            raise ValueError("isl and osl must be >= 1, stddevs >= 0")


def describe(params: dict) -> dict:
    p = Params(**params)
    body = {"kind": "synthetic", **asdict(p)}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return body | {"params_sha256": hashlib.sha256(canonical.encode()).hexdigest()}


def generate(params: dict, path: Path) -> dict:
    body = describe(params)
    path.write_text(json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n")  # one JSON line
    return {"isl": body["isl"], "osl": body["osl"], "params_sha256": body["params_sha256"]}
