"""Reading study, analysis and training files: YAML that says what it means, or a clear refusal.

Beyond safe YAML: a key given twice is an error (YAML would silently keep the last), and a document that expands
beyond a sane size through aliases (an "alias bomb"), nests too deeply or refers to itself is refused before
anything walks it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meltdyn.base.errors import StudyError

MAX_FILE_BYTES = 5_000_000
MAX_VALUES = 100_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 10_000
"""Longer integers are refused as written; shorter ones, even past Python's 4,300-digit limit, are read so that the
field's own range check names the field and what it allows."""
_DIGITS = re.compile(r"[0-9]")


class _Loader(yaml.SafeLoader):
    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = len(_DIGITS.findall(str(node.value)))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of {digits:,} digits; no setting takes more than {MAX_INT_DIGITS:,}",
                node.start_mark)
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            return super().construct_yaml_int(node)
        finally:
            sys.set_int_max_str_digits(limit)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            for item in value_node.value if isinstance(value_node, SequenceNode) else [value_node]:
                if isinstance(item, ScalarNode) and item.tag == "tag:yaml.org,2002:int" and \
                        len(_DIGITS.findall(str(item.value))) > MAX_INT_DIGITS:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{key_node.value}: an integer of {len(_DIGITS.findall(str(item.value))):,} "
                        f"digits; no setting takes more than {MAX_INT_DIGITS:,}", item.start_mark)
            if isinstance(key_node, ScalarNode) and key_node.value != "<<":
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice (first on line {seen[key].line + 1}); YAML would "
                        "silently keep the last", key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge",
                                                  "timestamp")}
"""What a study file may hold: plain values, lists and mappings. Any other tag (!!python/..., !!binary, !!set,
!!omap, a local !tag) is refused before anything is constructed, so a study file can never run code."""


def _measure(node: Node, depth: int, memo: dict[int, int | None]) -> int:
    """Values the document holds once aliases are expanded; raises on cycles, excessive depth and tags that are not
    plain data."""
    if node.tag not in PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise yaml.constructor.ConstructorError(
            None, None, f"tag {tag} is not allowed: a study file holds plain values, lists and mappings only",
            node.start_mark)
    if depth > MAX_DEPTH:
        raise ValueError(f"it nests deeper than {MAX_DEPTH} levels")
    key = id(node)
    if key in memo:
        if memo[key] is None:
            raise ValueError("an alias refers to a node that contains it")
        return memo[key]  # type: ignore[return-value]
    memo[key] = None
    if isinstance(node, SequenceNode):
        size = 1 + sum(_measure(child, depth + 1, memo) for child in node.value)
    elif isinstance(node, MappingNode):
        size = 1 + sum(_measure(k, depth + 1, memo) + _measure(v, depth + 1, memo) for k, v in node.value)
    else:
        size = 1
    if size > MAX_VALUES:
        raise ValueError(f"it expands to more than {MAX_VALUES:,} values (through aliases?)")
    memo[key] = size
    return size


def parse_yaml(text: str, name: str) -> Any:
    try:
        loader = _Loader(text)  # its reader already refuses control characters
    except yaml.YAMLError as exc:
        raise StudyError(f"{name} is not valid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, 0, {})
        return loader.construct_document(node)
    except RecursionError:
        raise StudyError(f"{name} nests too deeply to be a study file") from None
    except ValueError as exc:
        raise StudyError(f"{name} is refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise StudyError(f"{name} is not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def read_study_file(path: str | Path, what: str = "study file") -> dict[str, Any]:
    """A study (or analysis, or training) file's top-level mapping."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"{what} {str(path)!r} does not exist" if not path.exists()
                         else f"{what} {str(path)!r} is not a file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise StudyError(f"{what} {str(path)!r} is {path.stat().st_size:,} bytes; a study file is at most "
                         f"{MAX_FILE_BYTES:,}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise StudyError(f"{what} {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    data = parse_yaml(text, f"{what} {str(path)!r}")
    if not isinstance(data, dict):
        raise StudyError(f"{what} {str(path)!r} must hold a mapping at the top level, got {type(data).__name__}")
    return data
