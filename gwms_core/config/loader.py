"""YAML loading that remembers where every value came from.

:func:`load_yaml` returns the data and a :class:`LineMap` from document paths
(``("entry_sources", 0, "path")``) to 1-based line numbers, so validation errors
can point at the line. Duplicate mapping keys, which PyYAML silently accepts,
are errors here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a configuration file."""

    file: str
    line: int | None
    path: Path_
    message: str

    @property
    def where(self) -> str:
        """``file:line`` (or just ``file``)."""
        return f"{self.file}:{self.line}" if self.line else self.file

    @property
    def dotted(self) -> str:
        """The path inside the document, as ``a.b[0].c`` (``<root>`` when empty)."""
        return format_path(self.path)

    def __str__(self) -> str:
        return f"{self.where}: {self.dotted}: {self.message}"


class ConfigError(Exception):
    """A configuration was rejected. ``problems`` says what, where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def format_path(path: Path_) -> str:
    """Render a document path as ``a.b[0].c``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


@dataclass(slots=True)
class LineMap:
    """Line numbers of document paths."""

    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while True:
            if probe in self.lines:
                return self.lines[probe]
            if not probe:
                return None
            probe = probe[:-1]


def _walk(node: yaml.Node, path: Path_, lm: LineMap, file: str, problems: list[Problem]) -> None:
    lm.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(file, line, (*path, key),
                                        f"duplicate key {key!r} (first at line {seen[key]})"))
                continue
            seen[key] = line
            lm.lines[(*path, key)] = line
            _walk(value_node, (*path, key), lm, file, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lm, file, problems)


def load_yaml(path: Path | str, text: str | None = None) -> tuple[Any, LineMap]:
    """Parse ``path`` (or ``text`` reported as ``path``); raise ConfigError on bad YAML."""
    file = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([Problem(file, None, (), f"cannot read: {exc.strerror}")]) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError([Problem(file, None, (), f"not UTF-8 text: {exc.reason}")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([Problem(file, line, (), f"YAML syntax error: {what}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, None, (), f"YAML error: {exc}")]) from exc
    lm = LineMap()
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), lm, file, problems)
    if problems:
        raise ConfigError(problems)
    return data, lm
