"""GPU pools as Airflow pools, for the Kubernetes platform: the rules live in featurebench.recipes.pools; here they
answer as the platform's errors, and `python -m featurebench.platforms.kubernetes pools-json` writes them for
`airflow pools import`."""

from __future__ import annotations

import json
from pathlib import Path

from featurebench.errors import KubernetesError, RecipeError
from featurebench.recipes import pools
from featurebench.settings import POOLS_FILE
from featurebench.spec import ResolvedSpec


def pool_for(resolved: ResolvedSpec, gpu_type: str | None = None, arm: str | None = None,
             pools_file: Path = POOLS_FILE) -> tuple[str, int]:
    """(Airflow pool, pool_slots) for an arm's tasks (recipes.pools.arm_slots). A GPU type or pool the spec
    cannot use is a RecipeError (a ValueError) naming it; a pool too small for the arm is a KubernetesError."""
    pools.spec_pool(resolved.spec, gpu_type, pools_file)
    try:
        return pools.arm_slots(resolved.spec, gpu_type, arm, pools_file)
    except RecipeError as exc:
        raise KubernetesError(str(exc)) from None


def pools_json(pools_file: Path = POOLS_FILE) -> dict[str, dict]:
    try:
        return pools.pools_json(pools_file)
    except RecipeError as exc:
        raise KubernetesError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m featurebench.platforms.kubernetes")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pools-json", help="write Airflow pools (one per GPU pool, sized in GPUs) as JSON")
    p.add_argument("--pools", type=Path, default=POOLS_FILE)
    p.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    text = json.dumps(pools_json(args.pools), indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        print(text, end="")
    return 0
