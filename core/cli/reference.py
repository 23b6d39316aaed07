"""The references in Markdown, generated from what they describe: the files (from the spec models and the registered
plugins) and the command line (from its parsers)."""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from meltdyn.analysis.model import analysis_model
from meltdyn.cli.dispatch import parser as cli_parser
from meltdyn.hooks.registry import Registry
from meltdyn.spec.models import (
    AnalysisSettings, MinimiseStage, NPTStage, NVEStage, NVTStage, ProductionStage, ProtocolSpec, RampStage,
    SamplingSpec, SweepSpec,
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


def _is_section(annotation: Any) -> bool:
    """A field holding a model (or a union of them, a plugin section): it gets a table of its own."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    options = [typing.get_args(o)[0] if typing.get_origin(o) is typing.Annotated else o for o in options]
    return all(isinstance(o, type) and issubclass(o, BaseModel) for o in options)


def _table(title: str, model: type[BaseModel], skip: set[str] = frozenset(), sections: bool = True) -> str:
    rows = [f"### {title}\n"]
    for name, field in model.model_fields.items():
        if name in skip or not sections and _is_section(field.annotation):
            continue
        default = "required" if field.default is PydanticUndefined else f"`{field.default!r}`"
        rows.append(f"| `{name}` | {_type_name(field.annotation)} | {default} | {field.description or ''} |")
    if len(rows) == 1:
        return rows[0] + "\nNo keys besides `plugin`.\n"
    return "\n".join([rows[0], "| key | type | default | meaning |", "|---|---|---|---|", *rows[1:]]) + "\n"


def _submodels(model: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """The keys of a plugin's parameters that hold one model of their own (optional or not), and that model."""
    found = []
    for name, field in model.model_fields.items():
        options = [o for o in typing.get_args(field.annotation) if o is not type(None)] or [field.annotation]
        if len(options) == 1 and isinstance(options[0], type) and issubclass(options[0], BaseModel):
            found.append((name, options[0]))
    return found


PLUGIN_SECTIONS = (("system", "system"), ("potential", "potential"), ("engine", "engine"), ("executor", "executor"),
                   ("observable", "observables[]"), ("labeller", "reference_data (meltdyn train)"))
"""Plugin kind → the section of a file its parameters fill."""


def reference_markdown(registry: Registry) -> str:
    top = study_model(registry)
    parts = [
        "## Study file\n",
        _table("top level", top, skip={"system", "sweep", "potential", "engine", "protocol", "executor", "analysis",
                                        "observables"}),
        "and the sections `system`, `sweep`, `potential`, `engine`, `protocol`, `executor` (optional; default "
        "`serial`), `analysis` (optional) and `observables` (a list); the plugin sections' keys are under "
        "[Plugin sections](#plugin-sections).\n",
        _table("sweep", SweepSpec), _table("protocol", ProtocolSpec),
    ]
    for stage in (MinimiseStage, NVTStage, NPTStage, RampStage, NVEStage, ProductionStage):
        tag = typing.get_args(stage.model_fields["stage"].annotation)[0]
        parts.append(_table(f"protocol.stages: `stage: {tag}`", stage, {"stage"}))
    parts.append(_table("production `sampling`", SamplingSpec))
    parts.append(_table("analysis", AnalysisSettings))
    parts.append("## Analysis file (`meltdyn analyse`)\n")
    parts.append(_table("analysis file: top level", analysis_model(registry),
                        skip={"observables", *AnalysisSettings.model_fields}))
    parts.append("and the study's `analysis` keys at its top level, and `observables` (a list) as in a study.\n")
    parts.append("## Plugin sections\n")
    parts.append("Each section names its plugin (`plugin: NAME`) and takes that plugin's keys. Every observable entry "
                 "also takes `label` (its results group name; default the plugin name).\n")
    for kind, section in PLUGIN_SECTIONS:
        for name in registry.names(kind):
            entry = registry.get(kind, name)
            title = f"{section}: `plugin: {name}` ({entry.distribution})"
            parts.append(_table(title, entry.definition.params))
            for key, model in _submodels(entry.definition.params):
                parts.append(_table(f"{section}: `plugin: {name}`, `{key}`", model))
    for name in sorted(registry.commands):
        command = registry.commands[name].command
        files = command.files(registry) if command.files else []
        if files:
            parts.append(f"## Files of `meltdyn {name}`\n")
        for title, model in files:
            parts.append(_table(title, model, sections=False))
            nested = [n for n, f in model.model_fields.items() if _is_section(f.annotation)]
            if nested:
                parts.append(f"and the sections {', '.join(f'`{n}`' for n in nested)}.\n")
    return "\n".join(parts)


HELP_WIDTH = 100  # fixed, so that the generated page does not depend on the terminal it was made in


def _help(parser: argparse.ArgumentParser) -> str:
    formatter = parser.formatter_class
    parser.formatter_class = lambda prog: formatter(prog, width=HELP_WIDTH)
    try:
        return parser.format_help()
    finally:
        parser.formatter_class = formatter


def cli_markdown(registry: Registry) -> str:
    """Each command's ``--help``, meltdyn's and the plugins' alike, as one Markdown page."""
    main = cli_parser(registry)
    commands = next(a for a in main._actions if isinstance(a, argparse._SubParsersAction))
    parts = ["## meltdyn\n", f"```text\n{_help(main)}```\n"]
    for name, sub in commands.choices.items():
        parts += [f"## meltdyn {name}\n", f"```text\n{_help(sub)}```\n"]
    return "\n".join(parts)
