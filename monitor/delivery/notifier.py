"""The channel contract, its two error kinds, and the helpers every channel shares.

A channel renders a digest into serialised messages (stored in the outbox before anything is sent)
and later sends one stored message. Errors say whether a retry can help: `TransientError` keeps the
message pending (a channel being down must delay it, never lose it), `PermanentError` gives up on
that one message. Error texts end up in logs and `monitor status`, so they never carry secrets.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

from monitor.models import Digest


class DeliveryError(Exception):
    """A channel did not accept a message; `reason` is short, clear and secret-free."""

    def __init__(self, reason: str):
        self.reason = one_line(reason, 400)
        super().__init__(self.reason)


class TransientError(DeliveryError):
    """Retry later: the channel is down, busy or misconfigured in a way the operator can fix."""

    def __init__(self, reason: str, retry_after: float | None = None, *, quick_retry: bool = True):
        super().__init__(reason)
        self.retry_after = retry_after
        self.quick_retry = quick_retry  # False after a timeout: waiting that long twice in a row helps nobody


class PermanentError(DeliveryError):
    """This message will never be accepted as it is (rejected content, unknown chat)."""


class PartlyDelivered(DeliveryError):
    """Some recipients took the message and some did not: sending the whole message again would give the ones
    who have it a second copy. `rest` is the message still owed to the others (to store in place of the sent
    one, retried later), None when nobody is owed it; `refused` says who refused for good, reported once."""

    def __init__(self, reason: str, *, rest: str | None, refused: str | None = None, hold: bool = False):
        super().__init__(reason)
        self.rest = rest
        self.hold = hold  # the rest must go before the channel's later messages (a chat reads in order)
        self.refused = one_line(refused, 400) if refused else None


@runtime_checkable
class Notifier(Protocol):
    """One delivery channel. `channel` is the stable id stored with each outbox message."""

    channel: str

    def render(self, digest: Digest) -> list[str]: ...

    async def send(self, message: str) -> None: ...


class Secret:
    """A secret string that never shows itself in repr(), str() or f-strings by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def redact(self, text: str) -> str:
        """Remove this secret from a text that may have picked it up (a URL in an error message)."""
        return text.replace(self._value, "********") if self._value else text


def channel_label(channel: str) -> str:
    """A channel as logs, errors and `status` name it: a Telegram chat id is cut to its last three characters.

    Logs go to journald (and often on to a log host); a chat id there would tie this machine to a team's chat.
    The outbox keeps the full id (`telegram:-100123…`) so pending messages survive a restart.
    """
    kind, _, target = channel.partition(":")
    if kind == "telegram" and target:
        return f"telegram:…{target[-3:]}" if len(target) > 3 else "telegram:…"
    if kind == "file":
        return "digest file"
    return channel


# --- text helpers shared by every renderer ----------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def one_line(text: str, limit: int | None = None) -> str:
    """Web text made safe for a single line (subject, log, list item): no CR/LF, no control chars."""
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text or "")).strip()
    if limit and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def same_length_clean(text: str) -> str:
    """Control characters and line breaks become spaces one for one, so highlight offsets still fit."""
    return _CONTROL.sub(" ", text or "")


def segments(snippet: str, highlights: tuple[tuple[int, int], ...]) -> list[tuple[str, bool]]:
    """Split a snippet into (text, is_match) pieces; bad, overlapping or out-of-range spans are tolerated."""
    snippet = same_length_clean(snippet)
    spans: list[list[int]] = []
    for span in sorted(highlights or ()):
        try:
            start, end = max(0, int(span[0])), min(len(snippet), int(span[1]))
        except (TypeError, ValueError, IndexError):
            continue
        if end <= start:
            continue
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    out: list[tuple[str, bool]] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            out.append((snippet[pos:start], False))
        out.append((snippet[start:end], True))
        pos = end
    if pos < len(snippet):
        out.append((snippet[pos:], False))
    return out


def fmt_time(value: datetime | None, zone: str = "UTC") -> str:
    """A time in the reader's zone (`timezone` in feeds.yaml), always naming it: readers sit in several zones."""
    if value is None:
        return "date unknown"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if not zone or zone == "UTC":
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from zoneinfo import ZoneInfo

    return f"{value.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"


def safe_url(url: str) -> str | None:
    """Only http(s) links become clickable: a feed could carry javascript: or data: URLs."""
    url = (url or "").strip()
    if re.match(r"^https?://[^\s<>\"]+$", url, re.IGNORECASE):
        return url
    return None


MAX_CONCEPTS = 5


def matched(story) -> list[str]:
    """At most MAX_CONCEPTS names of what matched (alias names, not every inflection found in the text)."""
    names = list(story.concepts) or list(dict.fromkeys(story.terms))  # older states kept only word forms
    return [one_line(n, 60) for n in names[:MAX_CONCEPTS]]


def also_reported(story) -> list[tuple[str, str, str]]:
    """(outlet, url, its own title or "" when it is the lead's) for every further source."""
    titles = list(story.also_titles)
    return [(src, url, titles[i] if i < len(titles) else "") for i, (src, url) in enumerate(story.also_reported_by)]


KIND_LABEL = {"urgent": "URGENT", "digest": "Digest", "backfill": "Backfill", "test": "Test", "health": "Feed health"}
MENTIONS_HEADING = "Other mentions of GBAO"
MENTIONS_NOTE = "no topic fired on these, but they name a GBAO place or the Pamiris"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def summary_line(digest: Digest) -> str:
    """'3 stories on detentions, internet' — the core of every subject and headline."""
    if digest.kind in ("test", "health"):
        return one_line(digest.title or "test message", 160)
    topics = ", ".join(one_line(t, 40) for t in digest.topic_names[:4])
    if len(digest.topic_names) > 4:
        topics += f" +{len(digest.topic_names) - 4} more"
    parts = []
    if digest.stories:
        parts.append(plural(len(digest.stories), "story", "stories") + (f" on {topics}" if topics else ""))
    if digest.updates:
        parts.append(plural(len(digest.updates), "update"))
    if digest.mentions or digest.more_mentions:
        parts.append(plural(len(digest.mentions) + digest.more_mentions, "other mention") + " of GBAO")
    if digest.changes:
        parts.append(plural(len(digest.changes), "page changed", "pages changed"))
    if not parts:
        parts.append("no new stories")
    return "; ".join(parts)


def subject(digest: Digest, prefix: str = "Pamir monitor") -> str:
    """Kind-specific subject; an urgent alert carries its first story's title so it is read at once."""
    line = summary_line(digest)
    if digest.kind == "urgent":
        first = digest.stories[0].title if digest.stories else ""
        text = f"URGENT {prefix}: {line}" + (f" — {one_line(first, 100)}" if first else "")
    elif digest.kind == "backfill":
        text = f"{prefix} backfill: {line}"
    elif digest.kind == "test":
        text = f"{prefix} test: {line}"
    else:
        text = f"{prefix}: {line}"
    return one_line(text, 200)


RECHECK_MARK = "found on re-check"  # a story `monitor rematch` found after a rule change, shown beside its date
