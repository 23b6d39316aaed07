"""The study-file reference in Markdown, generated from the spec models and the registered plugins."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from meltdyn.hooks.registry import Registry
from meltdyn.spec.models import (
    AnalysisSettings, MinimiseStage, NPTStage, NVEStage, NVTStage, ProductionStage, ProtocolSpec, SamplingSpec,
    SweepSpec,
)
from meltdyn.study.model import study_model


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (list, tuple):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(annotation) if a is not ...)}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _table(title: str, model: type[BaseModel], skip: set[str] = frozenset()) -> str:
    rows = [f"#### {title}\n", "| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        default = "required" if field.default is PydanticUndefined else f"`{field.default!r}`"
        rows.append(f"| `{name}` | {_type_name(field.annotation)} | {default} | {field.description or ''} |")
    return "\n".join(rows) + "\n"


def reference_markdown(registry: Registry) -> str:
    top = study_model(registry)
    parts = [
        _table("top level", top, skip={"system", "sweep", "potential", "engine", "protocol", "executor", "analysis",
                                        "observables"}),
        "and the sections `system`, `sweep`, `potential`, `engine`, `protocol`, `executor` (optional; default "
        "`serial`), `analysis` (optional) and `observables` (a list).\n",
        _table("sweep", SweepSpec), _table("protocol", ProtocolSpec),
    ]
    for stage in (MinimiseStage, NVTStage, NPTStage, NVEStage, ProductionStage):
        tag = typing.get_args(stage.model_fields["stage"].annotation)[0]
        parts.append(_table(f"protocol.stages: `stage: {tag}`", stage, {"stage"}))
    parts.append(_table("production `sampling`", SamplingSpec))
    parts.append(_table("analysis", AnalysisSettings))
    for kind, section in (("system", "system"), ("potential", "potential"), ("engine", "engine"),
                          ("executor", "executor"), ("observable", "observables[]"),
                          ("labeller", "reference_data (meltdyn train)")):
        for name in registry.names(kind):
            entry = registry.get(kind, name)
            title = f"{section}: `plugin: {name}` ({entry.distribution})"
            parts.append(_table(title, entry.definition.params))
    parts.append("Every observable entry also takes `label` (results group name; default the plugin name).\n")
    return "\n".join(parts)
