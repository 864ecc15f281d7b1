"""Spec files: include/benchmarks/<id>.yaml read, validated, and resolved to the dated version in force on a day.
A broken file is a SpecError naming the file and the field, and never stops the other files from loading."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import ValidationError

from featurebench import settings
from featurebench.errors import SpecError
from featurebench.spec.models import BenchmarkSpec, ResolvedSpec, SpecVersion

# libyaml's safe loader when PyYAML was built with it: same documents, ~10x faster than the pure-Python one,
# which was most of the DAG file's parse time
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _deep_merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _format_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid benchmark spec ({err.error_count()} problem(s))"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  - field `{where}`: {e['msg']}")
    return "\n".join(lines)


class SpecFile:
    """One include/benchmarks/<id>.yaml: the raw document, its checksum, and the validated spec."""

    def __init__(self, path: Path):
        self.path = Path(path)
        text = self.path.read_text()
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()
        try:
            raw = yaml.load(text, Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            raise SpecError(f"{self.path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise SpecError(f"{self.path}: a spec must be a YAML mapping")
        self.raw: dict = raw
        self.spec = self._validate(raw, where="")
        if self.spec.id != self.path.stem:
            raise SpecError(f"{self.path}: field `id` is {self.spec.id!r} but the file is named {self.path.stem!r}")
        for v in self.spec.versions:  # every version must produce a valid spec, checked now, not at run time
            resolved = self.resolve(v.effective_from)
        self.__dict__["latest"] = resolved  # the last version checked is `latest`: don't resolve it twice

    def _validate(self, raw: dict, where: str) -> BenchmarkSpec:
        try:
            return BenchmarkSpec.model_validate(raw)
        except ValidationError as err:
            raise SpecError(_format_error(self.path, err) + where) from None

    def version_at(self, day: dt.date) -> SpecVersion:
        in_force = [v for v in self.spec.versions if v.effective_from <= day]
        if not in_force:
            first = self.spec.versions[0].effective_from
            raise SpecError(f"{self.path}: no version of {self.spec.id} was in force on {day} (first: {first})")
        return in_force[-1]

    def resolve(self, day: dt.date) -> ResolvedSpec:
        version = self.version_at(day)
        body = _deep_merge({k: v for k, v in self.raw.items() if k != "versions"}, version.overrides)
        body["versions"] = self.raw["versions"]
        spec = self._validate(body, where=f"\n  (after applying version {version.version})")
        return ResolvedSpec(spec=spec, version=version, source_sha256=self.sha256)

    @cached_property
    def latest(self) -> ResolvedSpec:
        return self.resolve(self.spec.versions[-1].effective_from)


def load_spec(benchmark_id: str, directory: Path | None = None) -> SpecFile:
    directory = directory or settings.benchmarks_dir()
    path = Path(directory) / f"{benchmark_id}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in Path(directory).glob("*.yaml"))
        raise SpecError(f"no benchmark {benchmark_id!r} in {directory}; known: {known}")
    return SpecFile(path)


def load_all(directory: Path | None = None) -> tuple[dict[str, SpecFile], dict[str, str]]:
    """Every spec in the folder; a broken file is reported in `errors` and does not stop the others."""
    directory = directory or settings.benchmarks_dir()
    specs: dict[str, SpecFile] = {}
    errors: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            specs[path.stem] = SpecFile(path)
        except (SpecError, OSError) as exc:
            errors[str(path)] = str(exc)
    return specs, errors
