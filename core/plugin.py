"""What a plugin hands to meltdyn: a name, a parameter model and a factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

PluginKind = Literal["potential", "engine", "observable", "labeller"]


class PluginParams(BaseModel):
    """Base class for a plugin's parameter model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class PluginDef:
    """One potential, engine or observable offered by a plugin.

    ``params`` is the pydantic model of the plugin's settings in a study file (without the ``plugin`` tag,
    which meltdyn adds). ``build`` turns validated params into the working object: a
    :class:`meltdyn.contracts.Potential`, :class:`~meltdyn.contracts.Engine`,
    :class:`~meltdyn.contracts.Observable` or :class:`~meltdyn.contracts.Labeller`.
    """

    name: str
    kind: PluginKind
    params: type[PluginParams]
    build: Callable[[Any], Any]
    summary: str = ""
