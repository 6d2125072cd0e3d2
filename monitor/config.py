"""Loading feeds.yaml (and the YAML plumbing keywords.yaml shares): every mistake reported as file:line.

YAML is parsed with a loader that records the line of every node and refuses duplicate keys, and the
data is validated with pydantic models; a validation error's path is mapped back to the line it came from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .problems import ConfigError, Problem  # noqa: F401  (defined without pydantic; re-exported here)

Path_ = tuple[str | int, ...]
LineOf = Callable[[Path_], int | None]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader with YAML 1.2 booleans only: `no`, `on`, `NO` stay strings (a keyword may be "no").

    On libyaml when PyYAML has it (wheels do): the same nodes and marks, a sixth of the time of every start.
    """


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(path: str | Path) -> tuple[Any, LineOf]:
    """Parse a YAML file; return the data and a function giving the line of any path in it.

    Raises ConfigError for unreadable files, syntax errors (tabs included) and duplicate keys.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(name, None, f"cannot read: {exc}")]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        problems: list[Problem] = []
        if node is not None:
            _index(node, (), lines, problems, name)
        if problems:
            raise ConfigError(problems)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        detail = exc.problem or str(exc)
        bad_line = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        if "\t" in text and "tab" in str(detail).lower() or "'\\t'" in str(detail) or "\t" in bad_line:
            detail = "a tab character; YAML indents with spaces only"
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


def _index(node: yaml.Node, here: Path_, lines: dict[Path_, int], problems: list[Problem], name: str) -> None:
    lines[here] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(name, line, f"duplicate key {key!r} (first at line {seen[key]})"))
                continue
            seen[key] = line
            _index(value_node, here + (key,), lines, problems, name)
            lines[here + (key,)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, here + (i,), lines, problems, name)


def validation_problems(exc: ValidationError, file: str, line_of: LineOf) -> list[Problem]:
    """Turn pydantic's errors into file:line problems with a readable path."""
    problems = []
    for err in exc.errors():
        loc = tuple(part for part in err["loc"] if not (isinstance(part, str) and "[" in part))
        where = ".".join(str(p) for p in loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        problems.append(Problem(file, line_of(loc), f"{where}: {msg}" if where else msg))
    return problems


# --- durations ---------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT_SECONDS = {None: 60, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float) -> float:
    """'15m' -> 900.0 seconds. A bare number means minutes."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 2h or 1d")
    if isinstance(value, (int, float)):
        seconds = float(value) * 60
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"bad interval {value!r}: expected a duration such as 90s, 15m, 2h or 1d")
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds <= 0:
        raise ValueError("the interval must be greater than zero")
    return seconds


# --- feeds.yaml --------------------------------------------------------------------------------

_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def _check_url(value: str) -> str:
    if not isinstance(value, str) or not _URL.match(value.strip()):
        raise ValueError(f"bad URL {value!r}: expected an http:// or https:// address")
    return value.strip()


class FeedSpec(BaseModel):
    """One source in feeds.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    url: str
    kind: Literal["feed", "site", "sitemap"] = "feed"
    interval: float = 1800.0  # seconds; written as 15m, 2h ...
    language: str | None = None
    links: str | None = None  # kind: site — a regex the article links must match
    proxy: str | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("links")
    @classmethod
    def _links(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad links pattern: {exc}") from None
        return value


class Settings(BaseModel):
    """The `settings:` section of feeds.yaml; every key is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    digest_interval: float = 3600.0  # written as 1h
    concurrency: int = Field(default=32, ge=1, le=512)  # requests in flight overall
    per_host: int = Field(default=2, ge=1, le=8)  # requests in flight per host
    host_delay: float = Field(default=0.0, ge=0)  # seconds between two requests to one host
    timeout: float = Field(default=20.0, gt=0)  # overall deadline per request, seconds
    max_bytes: int = Field(default=10_000_000, ge=10_000)  # response size cap
    extract_timeout: float = Field(default=20.0, gt=0)
    keep_raw_html: bool = False  # store gzip of each matched page in the evidence archive
    show_updates: bool = False  # digest lists "also reported by" for stories already sent
    failing_after: float = 86400.0  # a feed failing this long is listed in the digest footer
    user_agent: str | None = None
    proxy: str | None = None

    @field_validator("digest_interval", "failing_after", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return parse_duration(value)


class FeedsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    feeds: list[FeedSpec] = Field(min_length=1)
    settings: Settings = Settings()

    @model_validator(mode="after")
    def _unique_names(self) -> "FeedsFile":
        seen: set[str] = set()
        for feed in self.feeds:
            if feed.name in seen:
                raise ValueError(f"two feeds are named {feed.name!r}; names must be unique")
            seen.add(feed.name)
        return self


def load_feeds(path: str | Path) -> FeedsFile:
    """Read and validate feeds.yaml; raise ConfigError listing every problem with its line."""
    data, line_of = load_yaml(path)
    name = str(path)
    if not isinstance(data, dict):
        raise ConfigError([Problem(name, line_of(()), "expected a mapping with a top-level 'feeds:' list")])
    try:
        return FeedsFile.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, name, line_of)
        for p in problems:  # point duplicate names at the second one
            if "two feeds are named" in p.message:
                dup = p.message.split("'")[1]
                idx = [i for i, f in enumerate(data.get("feeds") or []) if isinstance(f, dict) and f.get("name") == dup]
                if len(idx) > 1:
                    problems[problems.index(p)] = Problem(name, line_of(("feeds", idx[1], "name")), p.message)
        raise ConfigError(problems) from None
