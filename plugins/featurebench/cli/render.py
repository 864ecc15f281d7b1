"""`featurebench render <benchmark-id>`: every manifest of a run as multi-document YAML on stdout."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import yaml

from featurebench.errors import RecipeError, SpecError
from featurebench.recipes.names import validate_overrides
from featurebench.recipes.render import preview_run, render_run
from featurebench.spec import load_spec


def render_cli(argv: list[str] | None = None) -> int:
    """`python -m featurebench render <benchmark-id> [--arm NAME] [--platform kubernetes]`: every manifest of
    the run as multi-document YAML on stdout; errors on stderr and a non-zero exit."""
    parser = argparse.ArgumentParser(prog="featurebench render", description=render_cli.__doc__)
    parser.add_argument("benchmark")
    parser.add_argument("--arm", action="append", help="only this arm (repeatable); default: all arms")
    parser.add_argument("--platform", default="kubernetes", choices=["kubernetes"])
    parser.add_argument("--date", type=dt.date.fromisoformat, help="resolve the spec version in force on this date")
    parser.add_argument("--gpu-type", help="one of the benchmark's GPU types (picks the pool)")
    parser.add_argument("--image-tag", help="override the version's image tag")
    parser.add_argument("--namespace", default="featurebench")
    args = parser.parse_args(argv)
    try:
        spec_file = load_spec(args.benchmark)
        resolved = spec_file.resolve(args.date) if args.date else spec_file.latest
        validate_overrides(resolved, {k: v for k, v in (("gpu_type", args.gpu_type), ("image_tag", args.image_tag),
                                                         ("namespace", args.namespace)) if v is not None})
        for arm in args.arm or []:
            resolved.spec.arm(arm)
        run = preview_run(resolved, arms=args.arm, gpu_type=args.gpu_type, image_tag=args.image_tag,
                          namespace=args.namespace, day=args.date)
        docs = render_run(resolved, run)
    except (SpecError, RecipeError, KeyError) as exc:
        print(f"featurebench render: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    sys.stdout.write(dump_yaml(docs))
    return 0


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings (the engine configs) as readable `|` blocks."""


_Dumper.add_representer(
    str,
    lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None),
)


def dump_yaml(docs: list[dict]) -> str:
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=120)
