"""Shared base for every scenario model: frozen, unknown keys rejected, defaults validated."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _as_list(value: object) -> object:
    """Accept a single string where a list of strings is expected (``source: S13``)."""
    if isinstance(value, str):
        return [value]
    return value


#: One or more source IDs (see ../shared/reference/facts.md or scenarios/SOURCES.md).
Sources = Annotated[list[str], BeforeValidator(_as_list)]


class SimModel(BaseModel):
    """Base of all scenario models.

    Frozen so a validated scenario cannot drift during a run; ``extra="forbid"`` so a typo in a
    YAML key is an error rather than a silently ignored setting.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        populate_by_name=True,
        str_strip_whitespace=True,
    )


class Sourced(SimModel):
    """A model that may cite where its numbers come from."""

    source: Sources = Field(default_factory=list, description="Source IDs for the figures in this block.")
