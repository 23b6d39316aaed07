"""YAML's ``yes``/``true`` must not become the number 1: pydantic's lax mode takes ``True`` for 1 and 1.0 (a run at
T = 1 K from ``temperatures_K: [true]``), so the spec base classes refuse booleans in fields that are not boolean."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel


def _admits_bool(annotation: Any) -> bool:
    return annotation is bool or annotation is Any or any(_admits_bool(a) for a in get_args(annotation))


def refuse_booleans_as_numbers(model: type[BaseModel], data: Any) -> Any:
    """``data`` unchanged, or ValueError naming the field and the boolean given where a number belongs."""
    if not isinstance(data, dict):
        return data
    for name, field in model.model_fields.items():
        value = data.get(name)
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool) for v in items) and not _admits_bool(field.annotation):
            raise ValueError(f"{name}: {value!r} is a boolean; a {name} needs a number or a name, not true/false")
    return data
