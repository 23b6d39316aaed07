"""What a run's provenance.json records: how to reproduce it (fingerprint, seeds, packages, platform, plugins) and
what its simulation recorded of its system, potential and engine, so that analysing it needs neither."""

from __future__ import annotations

import platform
import sys
from typing import Any

from pydantic import BaseModel

from meltdyn.base.fingerprint import fingerprint, package_versions
from meltdyn.hooks.contracts import RunContext
from meltdyn.hooks.registry import Registry

SIMULATED = "simulated"
"""The engine facts' entry for what the simulation recorded of its system, potential and seeds."""


def simulated(ctx: RunContext) -> dict[str, Any]:
    """What provenance needs of a run's system, potential and seeds, taken when it is simulated."""
    return {"system": ctx.system.info, "potential": ctx.potential.describe(), "seeds": dict(ctx.seeds.used)}


def provenance(resolved_spec: dict[str, Any], spec: BaseModel, registry: Registry,
               engine_facts: dict[str, Any]) -> dict[str, Any]:
    """A simulated run's provenance, from its resolved spec, the study's, the plugins installed and the facts its
    engine and simulation recorded."""
    engine = {k: v for k, v in engine_facts.items() if k != SIMULATED}
    recorded = engine_facts[SIMULATED]
    versions = package_versions()
    seeds = {**recorded["seeds"], **engine.get("seeds", {})}
    return {"fingerprint": fingerprint(resolved_spec, {"root": spec.seed, **seeds}, versions),
            "seed": spec.seed, "seeds": seeds, "python": sys.version,
            "platform": platform.platform(), "packages": versions, "deterministic": spec.deterministic,
            "plugins": {e.name: {"kind": e.kind, "distribution": e.distribution, "version": e.version}
                        for e in registry.all_entries()},
            "system": recorded["system"], "potential": recorded["potential"], "engine": engine}
