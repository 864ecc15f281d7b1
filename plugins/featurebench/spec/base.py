"""What every spec model shares: strict, frozen pydantic models, and the slug and load-point patterns."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

SLUG = r"^[a-z0-9][a-z0-9-]*$"


LOAD_POINT = re.compile(r"^(c[1-9][0-9]{0,4}|replay(-x[0-9]+(\.[0-9]+)?)?)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
