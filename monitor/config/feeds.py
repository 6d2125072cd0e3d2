"""Loading feeds.yaml: every mistake reported as file:line.

YAML is parsed (config/yamlfile.py, shared with keywords.yaml) with a loader that records the line of every node and refuses duplicate keys, and the
data is validated with pydantic models; a validation error's path is mapped back to the line it came from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.config.problems import ConfigError, Problem  # noqa: F401  (defined without pydantic; re-exported here)
from monitor.config.recipients import Recipient, roster_problems
from monitor.config.yamlfile import LineOf, Path_, _Loader, load_yaml  # noqa: F401  (re-exported: keywords.py, cli, web)


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


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """'1GB' -> 1_000_000_000 bytes; a bare number is bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 500MB or 1GB")
    if isinstance(value, (int, float)):
        return int(value)
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"bad size {value!r}: expected a size such as 500MB or 1GB")
    return int(float(m.group(1)) * 1000 ** ("kmgt".find(m.group(2).lower()) + 1 if m.group(2) else 0))


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


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def _check_url(value: str) -> str:
    if not isinstance(value, str) or not _URL.match(value.strip()):
        raise ValueError(f"bad URL {value!r}: expected an http:// or https:// address")
    if re.search(r"[\x00-\x1f\x7f]", value.strip()):  # a YAML "\0" or "\t": no server would get what was meant
        raise ValueError(f"bad URL {value!r}: it holds a control character (a NUL, a tab, a line break), which "
                         "no URL can hold")
    return value.strip()


# Language codes feeds.yaml uses most, valid BCP 47 tags (tests/config checks each against langcodes)
COMMON_LANGUAGES = frozenset("en ru tg fa uz ky kk tk ps ar tr az de fr es it pt zh ja ko hi ur".split())


def check_language(value: object) -> str:
    """A feed's `language:` as a BCP 47 code, or ValueError (a `tj` for `tg` would route and read nothing)."""
    value = str(value).strip()
    if value.lower() in COMMON_LANGUAGES:  # no langcodes import (~0.06 s of every run's start)
        return value
    import langcodes

    if not langcodes.tag_is_valid(value):
        raise ValueError(f"language {value!r} is not a language code (BCP 47: en, ru, tg, fa, pt-BR …)")
    return value


def _feed_languages(data: dict) -> list[str]:
    """The valid `language:` codes of the feeds as written: the languages a recipient may ask for."""
    feeds = data.get("feeds") if isinstance(data.get("feeds"), list) else []
    out = []
    for code in (feed.get("language") for feed in feeds if isinstance(feed, dict) and feed.get("language")):
        try:
            out.append(check_language(code))
        except ValueError:
            pass  # reported at its line by the feed's own check
    return out


class FeedSpec(BaseModel):
    """One source in feeds.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    url: str
    kind: Literal["feed", "site", "sitemap", "telegram"] = "feed"
    interval: float = 1800.0  # seconds; written as 15m, 2h ...
    language: str | None = None
    region: Literal["gbao"] | None = None  # a source from inside GBAO: its silence is news (silence_after)
    links: str | None = None  # kind: site — a regex the article links must match
    proxy: str | None = None
    user_agent: str | None = None  # this feed's User-Agent (a site that refuses the default one)
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _telegram_url(self) -> "FeedSpec":
        if self.kind == "telegram" and not re.match(r"^/s/[A-Za-z0-9_]{3,64}/?$", _path(self.url)):
            raise ValueError(f"kind: telegram needs the channel's public preview, https://t.me/s/CHANNEL "
                             f"(got {self.url!r})")
        return self
    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else check_language(value)

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
    concurrency: int = Field(default=64, ge=1, le=512)  # requests in flight overall (each host: per_host)
    per_host: int = Field(default=2, ge=1, le=8)  # requests in flight per host
    host_delay: float = Field(default=0.0, ge=0)  # seconds between two requests to one host
    timeout: float = Field(default=20.0, gt=0)  # overall deadline per request, seconds
    max_bytes: int = Field(default=10_000_000, ge=10_000)  # response size cap
    extract_timeout: float = Field(default=20.0, gt=0)
    keep_raw_html: bool = False  # superseded by the WARC archive (every capture keeps the page); still accepted
    show_updates: bool = False  # digest lists "also reported by" for stories already sent
    digest_language: str | None = None  # an incident's entry takes its headline from a report in this language
    keep_unmatched_days: int = Field(default=180, ge=0)  # text of unmatched articles kept for `rematch`; 0: none
    failing_after: float = 86400.0  # a feed failing this long is listed in the digest footer
    silence_after: float = 43200.0  # every `region: gbao` source without a new item this long: one alert
    lease_ttl: float = 120.0  # hosts sharing a state: how long a silent host's feeds and duties wait (store/leases.py)
    user_agent: str | None = None  # default: a common browser's (fetch.USER_AGENT); see the README's trade-off
    proxy: str | None = None
    weekly_report: Any = None  # "mon 08:00" [zone]: the weekly report's time (web/schedule.py), or off
    digest_at: list[str | int] | None = None  # fixed digest times, "HH:MM" in `timezone`; replaces digest_interval
    timezone: str = "UTC"  # of digest_at and quiet_hours (IANA name, e.g. Asia/Dushanbe, Europe/Berlin)
    quiet_hours: str | None = None  # "22:00-07:00": nothing but urgent alerts is sent in this window
    web_base_url: str | None = None  # where `monitor serve` is reached: digest entries link to their story page
    # evidence archive (monitor/evidence): WARC files beside the state, re-fetches of matched pages
    warc_max_bytes: int = Field(default=1_000_000_000, ge=10_000)  # a WARC file rotates past this (1GB, 500MB)
    evidence_retention: float | None = None  # delete closed WARC files whose captures are all older (None: never)
    recheck_after: tuple[float, ...] = (86400.0, 604800.0)  # re-fetch a matched page this long after capture
    requisites_max_count: int = Field(default=30, ge=0)  # images, stylesheets, fonts kept per matched page (0: none)
    requisites_max_bytes: int = Field(default=10_000_000, ge=0)  # and their bytes in all, per page
    requisites_per_host: int = Field(default=6, ge=1, le=8)  # a page's requisites in flight per host (a browser's 6)
    screenshots: bool = True  # a full-page PNG of each capture, from the capture (evidence/screenshot.py)
    timestamp_authorities: tuple[str, ...] = ()  # RFC 3161 URLs: trusted time for `export --sign` (evidence/timestamp.py)

    @field_validator("digest_interval", "failing_after", "silence_after", "lease_ttl", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("lease_ttl")
    @classmethod
    def _ttl(cls, value: float) -> float:
        if not 1 <= value <= 3600:  # NaN fails too; a bare number is minutes, as for every duration here
            raise ValueError("lease_ttl must be between 1s and 1h (default 120s; a bare number means minutes)")
        return value

    @field_validator("weekly_report", mode="before")
    @classmethod
    def _weekly(cls, value: Any) -> Any:
        from monitor.config.schedule import parse_weekly

        return None if value in (None, False, "", "off") else parse_weekly(value)
    @field_validator("digest_at")
    @classmethod
    def _times(cls, value: list[str | int] | None) -> list[str | int] | None:
        if value is not None:
            if not value:
                raise ValueError("digest_at needs at least one time, e.g. [\"08:00\", \"18:00\"]")
            # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080: take it back as the time it was
            return sorted({_clock_time(f"{v // 60}:{v % 60:02d}" if isinstance(v, int) else str(v)) for v in value})
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = str(value).replace("–", "-").split("-")
        if len(parts) != 2:
            raise ValueError(f"bad quiet_hours {value!r}: expected a window such as \"22:00-07:00\"")
        start, end = (_clock_time(p.strip()) for p in parts)
        if start == end:
            raise ValueError("quiet_hours: the window starts and ends at the same time")
        return f"{start}-{end}"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}: use an IANA name such as Asia/Dushanbe or UTC") from None
        return str(value)

    @field_validator("web_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/?#<>\"]+(/[^\s?#<>\"]*)?$", str(value)):
            raise ValueError(f"bad web_base_url {value!r}: expected an http(s) URL, e.g. https://monitor.example.org/")
        return str(value).rstrip("/")

    @field_validator("evidence_retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> float | None:
        return None if value in (None, "never", "forever") else parse_duration(value)

    @field_validator("recheck_after", mode="before")
    @classmethod
    def _rechecks(cls, value: Any) -> tuple[float, ...]:
        if value in (None, False, "never"):
            return ()
        values = value if isinstance(value, (list, tuple)) else [value]
        return tuple(sorted(parse_duration(v) for v in values))

    @field_validator("timestamp_authorities", mode="before")
    @classmethod
    def _tsas(cls, value: Any) -> tuple[str, ...]:
        urls = tuple(str(v) for v in ((value or []) if isinstance(value, (list, tuple)) else [value]))
        for url in urls:
            if not re.match(r"^https?://[^\s/]+", url):
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return urls

    @field_validator("warc_max_bytes", "requisites_max_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)


def _clock_time(text: str) -> str:
    """'8:00' -> '08:00'; raises ValueError for anything that is not a time of day."""
    m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*$", text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"bad time {text!r}: expected HH:MM, e.g. 08:00")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


class FeedsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    feeds: list[FeedSpec] = Field(min_length=1)
    settings: Settings = Settings()
    recipients: list[Recipient] = []  # config/recipients.py: per-reader routing (checked across: roster_problems)

    @model_validator(mode="after")
    def _unique_names(self) -> "FeedsFile":
        seen: set[str] = set()
        for feed in self.feeds:
            if feed.name in seen:
                raise ValueError(f"two feeds are named {feed.name!r}; names must be unique")
            seen.add(feed.name)
        return self


def _duplicate_names(data: dict, file: str, line_of: LineOf) -> list[Problem]:
    """Every feed named like an earlier one, at the second name's line, whatever else is wrong in the file."""
    seen: set[str] = set()
    out = []
    for i, feed in enumerate(data.get("feeds") if isinstance(data.get("feeds"), list) else []):
        feed_name = feed.get("name") if isinstance(feed, dict) else None
        if isinstance(feed_name, str) and feed_name in seen:
            out.append(Problem(file, line_of(("feeds", i, "name")),
                               f"two feeds are named {feed_name!r}; names must be unique"))
        seen.add(feed_name) if isinstance(feed_name, str) else None
    return out


def load_feeds(path: str | Path) -> FeedsFile:
    """Read and validate feeds.yaml; raise ConfigError listing every problem with its line."""
    early: list[Problem] = []  # tabs and duplicate keys, reported with the other mistakes
    try:
        data, line_of = load_yaml(path, collect=early)
    except ConfigError as exc:
        raise ConfigError(early + exc.problems) from None
    name = str(path)
    if not isinstance(data, dict):
        raise ConfigError(early + [Problem(name, line_of(()), "expected a mapping with a top-level 'feeds:' list")])
    # across entries, on the raw data: pydantic looks across only when every entry is valid
    names = _duplicate_names(data, name, line_of)
    roster = roster_problems(name, data, line_of, _feed_languages(data))
    try:
        feeds = FeedsFile.model_validate(data)
    except ValidationError as exc:
        problems = [p for p in validation_problems(exc, name, line_of) if "two feeds are named" not in p.message]
        raise ConfigError(early + names + problems + roster) from None
    if early or names or roster:
        raise ConfigError(early + names + roster)
    return feeds
