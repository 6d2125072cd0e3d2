"""Line-aware YAML for feeds.yaml and keywords.yaml: the line of every node, duplicate keys refused, tabs and
unclosed quotes reported where they are (a missing quote makes the parser fail lines later).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import yaml

from monitor.config.problems import ConfigError, Problem

Path_ = tuple[str | int, ...]
LineOf = Callable[[Path_], int | None]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans only: `no`, `on`, `NO` stay strings (a keyword may be "no")."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same on libyaml: 10x faster on a long keywords.yaml; its errors are re-read by _Loader."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


def load_yaml(path: str | Path, collect: list[Problem] | None = None) -> tuple[Any, LineOf]:
    """Parse a YAML file; return the data and a function giving the line of any path in it.

    Raises ConfigError for unreadable files, syntax errors (tabs included) and duplicate keys. With `collect`,
    tabs in indentation and duplicate keys are reported there, one problem per line, and the file is read on
    (each tab as two spaces, the first of two keys kept), so that neither hides the file's other mistakes (the
    caller raises them all together).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(name, None, f"cannot read: {exc}")]) from None
    if collect is not None and "\t" in text:
        tabbed = [i for i, line in enumerate(text.splitlines(), 1) if "\t" in line[: len(line) - len(line.lstrip())]]
        if tabbed:
            collect.extend(Problem(name, i, "a tab character; YAML indents with spaces only") for i in tabbed)
            text = "\n".join(line.replace("\t", "  ") if "\t" in line[: len(line) - len(line.lstrip())] else line
                             for line in text.splitlines())
    loader = _FastLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError:  # libyaml's messages are terse: let the Python parser say what is wrong
            loader.dispose()
            loader = _Loader(text)
            node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        problems: list[Problem] = []
        if node is not None:
            _index(node, (), lines, problems, name)
        if problems:
            if collect is None:
                raise ConfigError(problems)
            collect.extend(problems)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        detail = exc.problem or str(exc)
        bad_line = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        if "\t" in text and "tab" in str(detail).lower() or "'\\t'" in str(detail) or "\t" in bad_line:
            detail = "a tab character; YAML indents with spaces only"
        opened = _unclosed_quote(text, mark.line if mark else None, exc)
        if opened is not None:
            line, detail = opened + 1, f"a quote opened here is not closed (the parser stumbled at line {line}: {detail})"
        raise ConfigError([Problem(name, line, f"YAML syntax error: {detail}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(name, None, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()

    def line_of(where: Path_) -> int | None:
        where = tuple(where)
        while where:
            if where in lines:
                return lines[where]
            where = where[:-1]
        return lines.get((), 1)

    return data, line_of


_OPENS = re.compile(r"""(?:^\s*-\s+|:\s+|[\[{,]\s*)(["'])""")


def _unclosed_quote(text: str, upto: int | None, exc: yaml.MarkedYAMLError) -> int | None:
    """The 0-based line where a quoted value opens and never closes on its line, at or before the error: a
    missing quote makes the parser run on, and fail lines later."""
    if exc.context and "quoted scalar" in exc.context and exc.context_mark is not None:
        return exc.context_mark.line
    for number, line in enumerate(text.splitlines()[: (upto if upto is not None else 10**9) + 1]):
        m = _OPENS.search(line)
        if m and not _closes(line[m.end():], m.group(1)):
            return number
    return None


def _closes(rest: str, quote: str) -> bool:
    """Whether a quoted scalar that opened just before `rest` ends on this line (\\" and '' are escapes)."""
    i = 0
    while i < len(rest):
        if quote == '"' and rest[i] == "\\":
            i += 2
            continue
        if rest[i] == quote:
            if quote == "'" and rest[i + 1: i + 2] == "'":
                i += 2
                continue
            return True
        i += 1
    return False


def _index(node: yaml.Node, here: Path_, lines: dict[Path_, int], problems: list[Problem], name: str) -> None:
    lines[here] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        kept = []
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):  # `[x]: 1`, `{a: 1}: 2`: no name a file could mean
                what = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                problems.append(Problem(name, line, f"key {_source(key_node)} is {what}; a key is one plain name "
                                        "(the entry is left out, so the rest is still checked)"))
                continue
            if key in seen:  # left out, so the first one is checked (and its lines stay right)
                problems.append(Problem(name, line, f"duplicate key {key!r} (first at line {seen[key]})"))
                continue
            seen[key] = line
            kept.append((key_node, value_node))
            _index(value_node, here + (key,), lines, problems, name)
            lines[here + (key,)] = line
        node.value[:] = kept
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, here + (i,), lines, problems, name)


def _source(node: yaml.Node) -> str:
    """A key that is not a plain name, as flow YAML on one line and cut short: `[x]`, `{a: 1}`."""
    def flow(n: yaml.Node) -> str:
        if isinstance(n, yaml.SequenceNode):
            return "[" + ", ".join(flow(item) for item in n.value) + "]"
        if isinstance(n, yaml.MappingNode):
            return "{" + ", ".join(f"{flow(k)}: {flow(v)}" for k, v in n.value) + "}"
        return " ".join(str(n.value).split())

    written = flow(node)
    return written[:37] + "…" if len(written) > 40 else written
