"""Study-file sections built from the live registry: one discriminated union per plugin kind, validated with
errors that name the plugin's field."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, create_model

from meltdyn.hooks.registry import Registry
from meltdyn.spec.models import Spec


def _tagged(kind: str, entries: dict, with_label: bool) -> Any:
    members = []
    for name, entry in sorted(entries.items()):
        fields: dict[str, Any] = {"plugin": (Literal[name], Field(description=f"{kind} plugin {name!r}"))}
        if with_label:
            fields["label"] = (str | None, Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100,
                                                 description="Results group name; default the plugin name."))
        model = create_model(f"{name}_{kind}", __base__=entry.definition.params, __doc__=entry.definition.summary,
                             **fields)
        members.append(model)
    if not members:
        raise ValueError(f"no {kind} plugins are registered")
    if len(members) == 1:
        return members[0]
    return Annotated[Union[tuple(members)], Field(discriminator="plugin")]


def plugin_union(registry: Registry, kind: str) -> Any:
    """The discriminated union of one plugin kind's parameter models, for use in other specs."""
    return _tagged(kind, registry.entries[kind], with_label=kind == "observable")


def validate_section(registry: Registry, kind: str, mapping: Any, where: str) -> BaseModel:
    """Validate one plugin section (e.g. a potential named inside a labeller) with the usual clear errors."""
    from pydantic import ValidationError

    from meltdyn.base import errors

    model = create_model("Section", __base__=Spec, **{where: (plugin_union(registry, kind), ...)})
    try:
        return getattr(model.model_validate({where: mapping}), where)
    except ValidationError as exc:
        raise errors.invalid(exc, model, where) from None
