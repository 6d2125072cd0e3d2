"""`recipients:` in feeds.yaml: who gets which stories, on which channel.

A diaspora journalist wants the Russian stories; an NGO lead wants killings and deaths in custody, as urgent
alerts only. Each recipient names one address (an email address or a Telegram chat) and its filters. The
address is not a secret; the SMTP login and the bot token still come only from the environment
(MONITOR_SMTP_*, MONITOR_TELEGRAM_TOKEN), and the channels of MONITOR_EMAIL_TO / MONITOR_TELEGRAM_CHAT_ID that
no recipient names keep getting everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

ADDRESS = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")
CHAT = re.compile(r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{3,})$")
NAME = re.compile(r"^[^\s@:,][^@:,\n]{0,59}$")


def _shown(value: object) -> str:
    """A value as the YAML showed it, for a message: true, 3, 'ru', a mapping, a list."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "a list"
    if value is None:
        return "an empty entry"
    return repr(value) if isinstance(value, str) else str(value)


def _one_topic(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(  # noqa: TRY004  (pydantic turns a ValueError, not a TypeError, into the file's line)
            f"each topic is one id or title of keywords.yaml, such as gbao_rights; not {_shown(value)}")
    return value.strip()


def _one_language(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"each language is one code, such as ru or pt-BR; not {_shown(value)}")  # noqa: TRY004
    return primary(value)


def _list_or_one(value: object, takes: str) -> list | tuple:
    """`topics:` and `languages:` as written: a list, one string alone (`topics: gbao_rights`), or nothing; a
    number, a `true` or a mapping is the user's slip, told as one line (each item is checked on its own, at its
    own line)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return value
    raise ValueError(f"takes {takes}; not {_shown(value)}")


Topic = Annotated[str, BeforeValidator(_one_topic)]
Language = Annotated[str, BeforeValidator(_one_language)]


class Recipient(BaseModel):
    """One reader and what reaches them. What takes the other entries or the feeds to check (one address, a name
    and an address once, languages the stories are in) is `roster_problems`'s, on the raw YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # how check-config, logs and `monitor status` name them: never the address
    email: str | None = None
    telegram: str | None = None  # a chat id (-100…) or @channelname
    topics: tuple[Topic, ...] = ()  # topic ids or titles of keywords.yaml; empty: every topic
    languages: tuple[Language, ...] = ()  # the story's language (the feed's `language:`, else read from its script);
    # only a code's first part counts (pt-BR takes every pt), as a story's language is compared by it
    urgency: Literal["all", "urgent", "digest"] = "all"  # urgent: the alerts only; digest: no alerts

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value.strip()):
            raise ValueError(f"bad recipient name {value!r}: a short label without '@', ':' or ',' (not the address)")
        return value.strip()

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not ADDRESS.match(value.strip()):
            raise ValueError(f"{value!r} is not an email address")
        return value.strip() if value else value

    @field_validator("telegram", mode="before")
    @classmethod
    def _chat(cls, value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):  # a list, a mapping, true: never a chat
            raise ValueError(  # noqa: TRY004  (as above: pydantic reports a ValueError at the file's line)
                f"{_shown(value)} is not a Telegram chat (a number like -1001234567890, or @channelname)")
        text = str(value).strip()
        if not CHAT.match(text):
            raise ValueError(f"{text!r} is not a Telegram chat (a number like -1001234567890, or @channelname)")
        return text

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: object) -> list | tuple:
        return _list_or_one(value, "a list of language codes, such as [ru, tg], or one code")

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, value: object) -> list | tuple:
        return _list_or_one(value, "a list of topics (ids or titles of keywords.yaml), such as [gbao_rights], "
                                   "or one topic")

    @property
    def channel(self) -> str:
        """Its own outbox channel, so one reader's filters or failures never touch another's messages."""
        return f"email:{self.name}" if self.email else f"telegram:{self.telegram}"

    def summary(self, titles: dict[str, str] | None = None) -> str:
        """'killings … ; languages ru; urgent alerts only' — for check-config."""
        titles = titles or {}
        what = ", ".join(titles.get(t, t) for t in self.topics) if self.topics else "every topic"
        langs = ", ".join(self.languages) if self.languages else "every language"
        when = {"all": "alerts and digests", "urgent": "urgent alerts only", "digest": "digests only, no alerts"}
        return f"{what}; {langs}; {when[self.urgency]}"


# the languages read from a story's script (stories/language.py) when its feed names none
SCRIPT_LANGUAGES = ("en", "ru", "tg", "fa")


def primary(code: object) -> str:
    """'pt-BR', 'pt_BR' -> 'pt': a story's language is matched by its first part, wherever codes are compared."""
    return str(code).strip().lower().replace("_", "-").split("-")[0]


def roster_problems(file: str, data: object, line_of, feed_languages: Iterable[str] = ()) -> list:
    """Every recipient checked against the others and against the feeds, on the raw YAML `data` of feeds.yaml,
    each mistake at its own line: an address missing or given twice, a name or an address used twice, a language
    no story has (`feed_languages`: the feeds' valid `language:` codes). Raw, because pydantic looks across
    entries only when every entry is valid."""
    known = sorted({*SCRIPT_LANGUAGES, *map(primary, feed_languages)})
    problems: list = []
    names: dict[str, int | None] = {}
    addresses: dict[str, tuple[str, int | None]] = {}
    for i, entry in _entries(data):
        name = entry["name"].strip() if isinstance(entry.get("name"), str) else ""
        problems += _entry_problems(file, entry, name, ("recipients", i), line_of, known)
        at = line_of(("recipients", i, "name"))
        if name in names:
            problems.append(_problem(file, at, f"two recipients are named {name!r} (the first at line {names[name]}); "
                                     "each needs a name of its own"))
        if name:  # a name missing (or not a text) is its entry's own mistake, reported by the validation
            names.setdefault(name, at)
        for kind in ("email", "telegram"):
            address = _address(entry.get(kind), kind)
            key = f"{kind}:{same_address(address)}"
            if not address:
                continue
            at = line_of(("recipients", i, kind))
            if key in addresses:
                first, line = addresses[key]
                problems.append(_problem(file, at, f"recipient {name!r} has the {kind} address of recipient {first!r} "
                                         f"(line {line}); each address is one reader's: give it one entry"))
            addresses.setdefault(key, (name, at))
    return problems


def _entry_problems(file: str, entry: dict, name: str, at: tuple, line_of, known: list[str]) -> list:
    """One recipient's own address and languages, whatever else is wrong with it."""
    problems = []
    if (entry.get("email") is None) == (entry.get("telegram") is None):
        problems.append(_problem(file, line_of(at), f"recipient {name!r}: give exactly one of email: or telegram:"))
    unknown = [(j, code) for j, code in _listed(entry.get("languages")) if primary(code) not in known]
    if unknown:
        what = ", ".join(repr(code) for _, code in unknown)
        problems.append(_problem(file, line_of(at + ("languages", unknown[0][0])),
                                 f"recipient {name!r}: no story is in language {what}; the languages are: "
                                 + ", ".join(known) + " (read from a story's script, or its feed's language:)"))
    return problems


def _problem(file: str, line: int | None, message: str):
    from monitor.config.problems import Problem

    return Problem(file, line, message)


def _entries(data: object) -> list[tuple[int, dict]]:
    """(index, entry) of each recipient of feeds.yaml's raw YAML that is a mapping, as far as the file reads."""
    entries = data.get("recipients") if isinstance(data, dict) else None
    return [(i, e) for i, e in enumerate(entries) if isinstance(e, dict)] if isinstance(entries, list) else []


def _listed(value: object) -> list[tuple[int, str]]:
    """(index, text) of each string of a list as written, or of one string written alone (`topics: gbao_rights`);
    anything else is left out: the validation reports it, at its own line."""
    if isinstance(value, str):
        return [(0, value)]
    return [(j, v) for j, v in enumerate(value) if isinstance(v, str)] if isinstance(value, list) else []


def same_address(address: str) -> str:
    """One address however it is written, to tell two apart: an email address, or a Telegram @username (Telegram
    reads it in any case), compared ignoring case; a numeric chat id as it is."""
    address = address.strip()
    return address.lower() if "@" in address else address


def _address(value: object, kind: str) -> str:
    """An address as written, for comparing one recipient's with another's: text (a chat id may be a number);
    anything else as none (the validation reports it)."""
    if isinstance(value, str) or kind == "telegram" and isinstance(value, int) and not isinstance(value, bool):
        return str(value).strip()
    return ""


def addresses(data: object) -> tuple[list[str], list[str]]:
    """The recipients' email addresses and chats as written, for checking the delivery environment they need
    when feeds.yaml itself does not validate."""
    entries = [e for _, e in _entries(data)]
    return ([str(e["email"]) for e in entries if e.get("email")],
            [str(e["telegram"]) for e in entries if e.get("telegram")])


def topic_problems(file: str, data: object, titles: dict[str, str], line_of) -> list:
    """Every recipient's topics checked against keywords.yaml (ids or titles), at their lines, on the raw YAML
    `data` of feeds.yaml: so they are reported with the file's other mistakes, in the same pass."""
    by_title = {title.casefold() for title in titles.values()}
    problems = []
    for i, entry in _entries(data):
        for j, topic in _listed(entry.get("topics")):
            topic = topic.strip()  # as the recipient takes it
            if topic not in titles and topic.casefold() not in by_title:
                where = line_of(("recipients", i, "topics", j)) or line_of(("recipients", i, "topics"))
                problems.append(_problem(file, where, f"recipient {entry.get('name')!r}: unknown topic {topic!r}; "
                                        "the topics are: " + ", ".join(titles)))
    return problems
