"""Validation errors that name the field, the value given and what is allowed."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError


class StudyError(Exception):
    """A study cannot be loaded, validated or run as written."""


class InputError(ValueError):
    """Data given to meltdyn (a trajectory, or an analysis setting it cannot meet) cannot be used as it is. The
    message starts with the field to change (``trajectory``, ``timestep_ps``, ``memory_budget_MB``, an observable's
    label, ...)."""


MAX_SHOWN = 200
"""Characters of a value an error shows; the rest is elided (a 100,000-character name, a 5,000-digit seed)."""


def shown(value: Any) -> str:
    """``repr(value)``, cut to :data:`MAX_SHOWN` characters; an integer too long to print is given by its digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 600:
        digits = int((value.bit_length() - 1) * 0.30102999566398) + 1
        digits += abs(value) >= 10**digits
        return f"an integer of {digits:,} digits"
    try:
        text = repr(value)
    except ValueError:  # a container holding such an integer
        return f"a {type(value).__name__} holding an integer too long to print"
    if len(text) <= MAX_SHOWN:
        return text
    size = len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else len(text)
    unit = "characters" if isinstance(value, (str, bytes)) else "items" if size != len(text) else "characters"
    return f"{text[:MAX_SHOWN - 30]}... ({size:,} {unit})"


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _members(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in get_args(annotation) for m in _members(a)]
    return [annotation]


def _tag_of(model: type[BaseModel]) -> str | None:
    for tag_field in ("plugin", "stage"):
        field = model.model_fields.get(tag_field)
        if field is not None and get_origin(field.annotation) is Literal:
            return get_args(field.annotation)[0]
    return None


def _step(annotation: Any, key: Any) -> tuple[Any, bool]:
    """Follow one element of a pydantic error location; say whether it was a union tag, not input."""
    members = _members(annotation)
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    for m in models:
        if _tag_of(m) == key and len(models) > 1:
            return m, True
    if len(models) == 1 and isinstance(key, str) and key in models[0].model_fields:
        return models[0].model_fields[key].annotation, False
    for m in members:
        if get_origin(m) in (list, tuple) and isinstance(key, int):
            return get_args(m)[0], False
    return None, False


def _allowed_keys(annotation: Any) -> list[str]:
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    return sorted(models[0].model_fields) if len(models) == 1 else []


_TAG_KINDS = {"plugin", "stage"}
_PLUGIN_SECTIONS = {"potential": "potential", "engine": "engine", "observables": "observable"}


def _unknown_tag(where: str, discriminator: str, tag: Any, expected: str) -> str:
    known = ", ".join(re.findall(r"'([^']*)'", expected))
    if discriminator == "plugin":
        what = f"{_PLUGIN_SECTIONS.get(where.split('[')[0].split('.')[0], '')} plugin".lstrip()
    else:
        what = discriminator
    hint = difflib.get_close_matches(str(tag), re.findall(r"'([^']*)'", expected), n=1, cutoff=0.6)
    guess = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"{where}: {tag!r} is not a known {what}; known: {known}{guess}"


def _message(err: Any) -> str:
    """pydantic's message, its number limits as they are written (9223372036854775807 is 2**63 - 1)."""
    return str(err["msg"]).replace("9223372036854775807", "2**63 - 1 (9223372036854775807)")


def describe(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """One readable line per error: ``path: problem (got value); allowed ...``."""
    lines = []
    for err in exc.errors():
        annotation: Any = root
        parent: Any = root
        path: list[str] = []
        for key in err["loc"]:
            parent = annotation
            annotation, is_tag = _step(annotation, key) if annotation is not None else (None, False)
            if not is_tag:
                path.append(f"[{key}]" if isinstance(key, int) else str(key))
        where = ".".join(path).replace(".[", "[") or "(study)"
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            allowed = _allowed_keys(parent)
            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
            msg = f"{where}: unknown key (value {shown(err['input'])})"
            if hint:
                msg += f"; did you mean {hint[0]!r}?"
            if allowed:
                msg += f" Allowed keys: {', '.join(allowed)}"
            lines.append(msg)
        elif err["type"] == "union_tag_invalid":
            ctx = err.get("ctx", {})
            lines.append(_unknown_tag(where, ctx.get("discriminator", "").strip("'"), ctx.get("tag"),
                                      ctx.get("expected_tags", "")))
        elif err["type"] == "literal_error" and err["loc"][-1] in _TAG_KINDS:
            where = where.rsplit(".", 1)[0]
            lines.append(_unknown_tag(where, str(err["loc"][-1]), err["input"], err.get("ctx", {}).get("expected", "")))
        elif err["type"] == "invalid_key":
            parent_path = ".".join(path[:-1]).replace(".[", "[") or "(top level)"
            lines.append(f"{parent_path}: key {shown(err['input'])} is a {type(err['input']).__name__}, not a name; "
                         "keys are names (strings)")
        elif err["type"] == "missing":
            lines.append(f"{where}: required field is missing")
        else:
            value = err.get("input")
            got = "" if isinstance(value, dict) else f" (got {shown(value)})"
            lines.append(f"{where}: {_message(err)}{got}")
    return lines


def invalid(exc: ValidationError, root: type[BaseModel], what: str) -> StudyError:
    """The error to raise for a mapping that failed ``root``'s validation: ``invalid WHAT:`` and one line per problem."""
    return StudyError(f"invalid {what}:\n  " + "\n  ".join(describe(exc, root)))
