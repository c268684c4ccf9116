"""A strict, safe YAML reader for specs.

* safe construction only: a tag that would build Python objects (``!!python/object/apply``) is an error;
* duplicate keys are errors (PyYAML silently keeps the last one);
* ``1e-3`` is read as the float 0.001 (YAML 1.1 would read it as a string and pass a string on);
* line numbers of every key are kept, so errors can point at the line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tune.errors import SpecError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that also reads exponent floats without a dot (``1e-3``)."""


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _walk(node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int], file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise SpecError(
                    f"duplicate key (first at line {seen[key]})",
                    file=file,
                    key=".".join((*path, key)),
                    line=line,
                    allowed="each key once per mapping",
                )
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, str(i)), lines, file)


def parse_yaml(text: str, file: str = "<string>") -> tuple[Any, dict[tuple[str, ...], int]]:
    """Parse YAML text; return ``(data, lines)`` where ``lines`` maps key paths to 1-based line numbers."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[tuple[str, ...], int] = {}
        _walk(node, (), lines, file)
        data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise SpecError(
            f"YAML tag not allowed: {exc.problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            allowed="plain YAML values (no tags that construct objects)",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(
            f"malformed YAML: {problem}", file=file, line=mark.line + 1 if mark else None
        ) from None
    finally:
        loader.dispose()
    return data, lines


def read_yaml(path: str | Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    """Read and parse a YAML file; a missing or unreadable file is a :class:`SpecError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read file: {exc}", file=str(path)) from None
    return parse_yaml(text, file=str(path))


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value with the same rules as a spec (``1e-3`` → 0.001, ``[1, 2]`` → list)."""
    data, _ = parse_yaml(text, file="--set")
    return data
