"""The one base of every hand-written file format (catalog, drill files, runbook front matter, scenarios):
an unknown key is an error (a misspelt key must not be ignored), infinity and NaN are not numbers, and text
is stripped (a YAML block scalar's trailing newline is no part of a name or a query)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)
