"""The Jinja2 sandbox the recipes render in: StrictUndefined (a variable the code did not pass is an error
naming the template and line, never an empty string), `tojson` for every value, YAML documents out."""

from __future__ import annotations

import json
import traceback
from functools import lru_cache

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, Undefined, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from featurebench.errors import RecipeError
from featurebench.settings import RECIPES_DIR


def _tojson(value) -> str:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the variable
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(RECIPES_DIR)),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = _tojson  # plain JSON; Jinja's own escapes <, >, & and ' for HTML
    return env


def _template_line(exc: BaseException, template: str) -> str:
    """' line N' of the template where rendering failed (Jinja rewrites tracebacks to template lines)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(template):
            return f" line {frame.lineno}"
    return ""


def render_template(template: str, context: dict) -> list[dict]:
    """Render one template and parse its YAML documents."""
    try:
        text = environment().get_template(template).render(**context)
    except UndefinedError as exc:
        raise RecipeError(f"{RECIPES_DIR / template}{_template_line(exc, template)}: undefined variable: {exc}") from None
    except TemplateError as exc:
        raise RecipeError(f"{RECIPES_DIR / template}: {exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise RecipeError(f"{RECIPES_DIR / template}: rendered text is not valid YAML: {exc}") from None
    if not all(isinstance(d, dict) for d in docs):
        raise RecipeError(f"{RECIPES_DIR / template}: every rendered document must be a mapping")
    return docs
