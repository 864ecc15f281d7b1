"""The trigger form of a benchmark DAG as one typed model, so each rule about its values is written once.

`trigger_model(spec)` is a pydantic model built for one benchmark (its arms, GPU types and load mode): its JSON
Schema is the form (`form_schema`, wrapped in Airflow Params by featurebench.airflow.dag_builder) and validating
against it is the first task's check (`validate_params`, called by resolve_config and by `featurebench run`).
Airflow checks the form with Python's `re.search`, where `$` also matches before a trailing newline; pydantic's
patterns match to the very end, so "1.3.1\\n" passes the form but never the first task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError, core_schema

from featurebench.errors import ParamError
from featurebench.spec.base import IMAGE_TAG, LOAD_POINT, MAX_TRIALS, REPLAY_POINT, Strict
from featurebench.spec.models import BenchmarkSpec, ResolvedSpec

PLATFORMS = ("local", "kubernetes")
FORM_FIELDS = ("platform", "gpu_type", "arms", "load_points", "trials", "image_tag", "dry_run")
# These fields left empty in the form (or the conf) take their default; `trials: ""` or `dry_run: null` are errors.
EMPTY_IS_DEFAULT = ("platform", "gpu_type", "arms", "load_points", "image_tag")


@dataclass(frozen=True)
class Unique:
    """No item twice (JSON Schema `uniqueItems`)."""

    def __get_pydantic_core_schema__(self, source, handler):
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema, handler):
        return {**handler(schema), "uniqueItems": True}

    @staticmethod
    def _check(items: list) -> list:
        if len(set(items)) != len(items):
            raise PydanticCustomError("unique", "items repeat")
        return items


@dataclass(frozen=True)
class Contains:
    """`value` among the items (JSON Schema `contains` with `const`)."""

    value: str

    def __get_pydantic_core_schema__(self, source, handler):
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema, handler):
        return {**handler(schema), "contains": {"const": self.value}}

    def _check(self, items: list) -> list:
        if self.value not in items:
            raise PydanticCustomError("contains", "{value} is missing", {"value": self.value})
        return items


class _Form(Strict):
    model_config = ConfigDict(strict=True)  # no coercion: `trials: true` or `dry_run: "false"` are errors

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        return {k: v for k, v in values.items() if not (k in EMPTY_IS_DEFAULT and v in (None, "", []))}


def point_pattern(spec: BenchmarkSpec, platform: str) -> str:
    """The load points a platform can run: only 'replay' points where it replays a trace on a fixed schedule."""
    return REPLAY_POINT if spec.load_section(platform)[1].mode == "fixed_schedule" else LOAD_POINT.pattern


def trigger_model(spec: BenchmarkSpec, default_platform: str = "local") -> type[_Form]:
    """The form of one benchmark. `default_platform` is only the form's default: a conf without `platform` runs
    locally."""
    arm_names = tuple(a.name for a in spec.arms)
    point_hint = "replay" if spec.load.mode == "fixed_schedule" else "c8, c16, ..."
    # A point the form offers must run on every platform; the chosen platform's own rule is checked below.
    form_points = {point_pattern(spec, p) for p in PLATFORMS}
    points = REPLAY_POINT if form_points == {REPLAY_POINT} else LOAD_POINT.pattern

    def points_of_the_platform(form):
        pattern = re.compile(point_pattern(spec, form.platform))
        if not all(pattern.fullmatch(p) for p in form.load_points):
            raise PydanticCustomError("fixed_schedule", "only replay points")
        return form

    return create_model(
        "TriggerParams",
        __base__=_Form,
        __validators__={"points_of_the_platform": model_validator(mode="after")(points_of_the_platform)},
        platform=(Literal[PLATFORMS], Field(
            default_platform, title="Platform",
            description="local: Dynamo mocker + AIPerf on this machine (simulation). kubernetes: the GPU pool.")),
        gpu_type=(Literal[tuple(spec.hardware.gpu_types)], Field(
            spec.hardware.gpu, title="GPU type",
            description="Hardware the arms are deployed on (kubernetes only; local runs simulate it).")),
        # two distinct arm names, one the control: the control and at least one treatment
        arms=(Annotated[list[Literal[arm_names]], Unique(), Contains(spec.control.name)], Field(
            list(arm_names), min_length=2, title="Arms to run", examples=list(arm_names),
            description=f"The control ({spec.control.name}) and at least one treatment.",
            json_schema_extra={"section": "What to run"})),
        load_points=(Annotated[list[Annotated[str, Field(pattern=points)]], Unique()], Field(
            [], title="Load points", json_schema_extra={"section": "What to run"},
            description=f"Empty: the spec's. 'replay' replays the trace on its schedule; 'cN' runs concurrency N "
            f"(this benchmark: {point_hint}).")),
        trials=(Annotated[int, Field(ge=1, le=MAX_TRIALS)] | None, Field(
            None, title="Trials", json_schema_extra={"section": "What to run"},
            description=f"Repetitions per load point (empty: the spec's, {spec.trials} on kubernetes and "
            f"{spec.local.trials} locally). Intervals need 2 or more.")),
        image_tag=(Annotated[str, Field(pattern=IMAGE_TAG.pattern)] | None, Field(
            None, title="Image tag override", json_schema_extra={"section": "Configuration"},
            description="Empty: the tag of the spec version in force on the run's date (letters, digits, . _ -).")),
        dry_run=(bool, Field(
            False, title="Dry run",
            description="Only resolve the configuration and render + validate every manifest; deploy nothing.")),
    )


def form_schema(spec: BenchmarkSpec, default_platform: str) -> dict[str, dict]:
    """Per form field, its JSON Schema with its default and title, as Airflow's Param takes it."""
    schema = trigger_model(spec, default_platform).model_json_schema()
    return {name: _as_airflow_form(field) for name, field in schema["properties"].items()}


def _as_airflow_form(field: dict) -> dict:
    """The spellings Airflow's form renders: `type: [null, X]` for an optional value (pydantic writes `anyOf`),
    and `enum` for a single allowed value (pydantic writes `const`; the form shows an enum as a choice)."""
    if "const" in field:
        field = {**{k: v for k, v in field.items() if k != "const"}, "enum": [field["const"]]}
    options = field.get("anyOf")
    if not options or len(options) != 2 or {"type": "null"} not in options:
        return field
    (value,) = [o for o in options if o != {"type": "null"}]
    rest = {k: v for k, v in field.items() if k != "anyOf"}
    return {**value, **rest, "type": ["null", value["type"]]}


def validate_params(resolved: ResolvedSpec, params: dict) -> dict:
    """Check trigger-form values against the spec's form; return them normalised. Errors say what and why."""
    spec = resolved.spec
    if not isinstance(params, dict):
        raise ParamError(f"{spec.id}: trigger parameters must be a JSON object, not {type(params).__name__}")
    try:
        form = trigger_model(spec).model_validate(params)
    except ValidationError as exc:
        problems = _messages(spec, exc.errors())
        raise ParamError(f"{spec.id}: invalid trigger parameters:\n  - " + "\n  - ".join(problems)) from None
    arms = set(form.arms)
    return {**form.model_dump(), "arms": [a.name for a in spec.arms if a.name in arms]}  # in spec order


def _messages(spec: BenchmarkSpec, errors: list[dict]) -> list[str]:
    """One line per problem, naming the value and what the field takes."""
    arm_names = [a.name for a in spec.arms]
    unknown_keys = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    unknown_arms = [e["input"] for e in errors if e["loc"][:1] == ("arms",) and len(e["loc"]) == 2]
    bad_points = [e["input"] for e in errors if e["loc"][:1] == ("load_points",) and len(e["loc"]) == 2]
    out = [f"unknown parameter(s) {unknown_keys}: the form has {list(FORM_FIELDS)}"] if unknown_keys else []
    for e in errors:
        field, value, kind = (e["loc"] or ("",))[0], e["input"], e["type"]
        if field == "platform":
            out.append(f"platform {value!r}: choose local or kubernetes")
        elif field == "gpu_type":
            out.append(spec.hardware.gpu_type_problem(value) or f"gpu_type {value!r}: not a GPU type")
        elif field == "arms" and len(e["loc"]) == 1:
            out.append({
                "contains": f"arms must include the control arm {spec.control.name!r}",
                "too_short": f"arms must include the control arm {spec.control.name!r} and at least one treatment arm",
                "unique": f"arms repeat: {value}",
            }.get(kind, f"arms {value!r}: a list of arm names, from {arm_names}"))
        elif field == "load_points" and len(e["loc"]) == 1:
            out.append({"unique": f"load points repeat: {value} (a repeated point would overwrite the other's results)"}
                       .get(kind, f"load_points {value!r}: a list such as ['replay'] or ['c8', 'c16']"))
        elif field == "trials":
            out.append(f"trials {value!r}: a whole number from 1 to {MAX_TRIALS}")
        elif field == "image_tag":
            out.append(f"image_tag {value!r}: letters, digits, '.', '_' and '-' only (max 128)")
        elif field == "dry_run":
            out.append(f"dry_run {value!r}: true or false")
    if unknown_arms:
        out.append(f"arms {unknown_arms}: unknown; this benchmark has {arm_names}")
    not_points = [p for p in bad_points if not (isinstance(p, str) and LOAD_POINT.fullmatch(p))]
    out += [f"load point {p!r}: use 'replay', 'replay-x<K>' (speed-up K > 0) or 'c<N>' (concurrency N)"
            for p in not_points]
    # the rest are load points, but not ones a fixed-schedule replay can run
    if len(not_points) < len(bad_points) or any(e["type"] == "fixed_schedule" for e in errors):
        out.append("this benchmark replays a trace on a fixed schedule: load points must be 'replay'")
    return out
