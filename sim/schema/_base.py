"""Shared base for every scenario model: frozen, unknown keys rejected, defaults validated."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _as_list(value: object) -> object:
    """Accept a single string where a list of strings is expected (``source: S13``)."""
    if isinstance(value, str):
        return [value]
    return value


#: One or more source IDs (see ../shared/reference/facts.md or scenarios/SOURCES.md).
Sources = Annotated[list[str], BeforeValidator(_as_list)]


_NUMERIC = (float, int, float | None, int | None)


def new_list() -> list:
    """A new empty list (a default factory: ``list`` itself costs pydantic a slow signature parse per field)."""
    return []


def new_dict() -> dict:
    """A new empty mapping (see :func:`new_list`)."""
    return {}


_NUMERIC_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}  # model class -> (key, name) of its numeric fields


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
        allow_inf_nan=False,
        # validators are built on first use, not at import: a load builds the Scenario's (with every model it
        # holds) in one go instead of one per class, and a command that validates nothing builds none
        defer_build=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data: object) -> object:
        """``true``/``false`` is not a number: pydantic's lax mode would read it as 1/0, so hand it on as
        text and let the field's own check reject it where it stands."""
        if not isinstance(data, dict):
            return data
        fixed = None
        numeric = _NUMERIC_FIELDS.get(cls)
        if numeric is None:  # once per class (reading ``model_fields`` costs more than the check itself)
            numeric = _NUMERIC_FIELDS[cls] = tuple((field.alias or name, name) for name, field in
                                                   cls.model_fields.items() if field.annotation in _NUMERIC)
        for key, name in numeric:
            value = data.get(key, data.get(name))
            if isinstance(value, bool):
                fixed = fixed if fixed is not None else dict(data)
                fixed[key if key in data else name] = str(value).lower()
        return data if fixed is None else fixed


class Sourced(SimModel):
    """A model that may cite where its numbers come from."""

    source: Sources = Field(default_factory=new_list, description="Source IDs for the figures in this block.")
