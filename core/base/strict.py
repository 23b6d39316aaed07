"""The base of every spec and plugin parameter model: unknown keys are errors, numbers finite, values immutable,
and YAML's ``yes``/``true`` never a number — pydantic's lax mode takes ``True`` for 1 and 1.0 (a run at T = 1 K
from ``temperatures_K: [true]``), so booleans are refused in fields that are not boolean."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, model_validator


def _admits_bool(annotation: Any) -> bool:
    return annotation is bool or annotation is Any or any(_admits_bool(a) for a in get_args(annotation))


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            value = data.get(name)
            items = value if isinstance(value, list) else [value]
            if any(isinstance(v, bool) for v in items) and not _admits_bool(field.annotation):
                raise ValueError(f"{name}: {value!r} is a boolean; a {name} needs a number or a name, not true/false")
        return data
