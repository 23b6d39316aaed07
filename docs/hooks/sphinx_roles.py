"""MkDocs hook: docstrings cross-reference in Sphinx's roles (:func:`load_study`, :class:`~meltdyn.plugin.Estimate`),
which mkdocstrings renders literally; the role is dropped so that the name reads as code, as in the source, and a
leading ``~`` shortens the name to its last part, as Sphinx does."""

from __future__ import annotations

import re
from typing import Any

ROLES = r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):"
SHORTENED = re.compile(ROLES + r"<code>~(?:[\w.]+\.)?(\w+)</code>")
PLAIN = re.compile(ROLES + r"(<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return PLAIN.sub(r"\1", SHORTENED.sub(r"<code>\1</code>", html))
