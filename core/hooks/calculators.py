"""ASE calculators named in a study file as ``module:Class``: checked to be a calculator class before anything runs.

Shared by every labeller that calls a reference code through ASE (``ase_calculator``, ``reference_md``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re

_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def calculator_class(name: str) -> type:
    """The ASE calculator class ``module:Class`` names; ValueError (saying why and what to do) for anything else.
    Nothing but the module's import runs: the attribute is checked to be a Calculator subclass, never called."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not 'module:Class' (e.g. 'ase.calculators.lj:LennardJones')")
    module_name, attribute = name.split(":")
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as exc:
        found, why = None, str(exc)
    else:
        why = "no such module is installed"
    if found is None:
        raise ValueError(f"{name!r}: module {module_name!r} cannot be found ({why}); install the package that "
                         "provides the calculator, or correct the name (e.g. 'ase.calculators.lj:LennardJones')")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken third-party module: its own error, said plainly
        raise ValueError(f"{name!r}: importing module {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    try:
        value = inspect.getattr_static(module, attribute)
    except AttributeError:
        raise ValueError(f"{name!r}: module {module_name!r} has no {attribute!r}") from None
    from ase.calculators.calculator import BaseCalculator

    if not inspect.isclass(value) or not issubclass(value, BaseCalculator):
        what = "a class, but not an ASE Calculator" if inspect.isclass(value) else \
            f"a {type(value).__name__}, not a class"
        raise ValueError(f"{name!r} is {what}; a study file may name only a subclass of "
                         "ase.calculators.calculator.Calculator (BaseCalculator), which meltdyn instantiates; "
                         "nothing else is called")
    return value
