"""`recipients:` in feeds.yaml: who gets which stories, on which channel.

A diaspora journalist wants the Russian stories; an NGO lead wants killings and deaths in custody, as urgent
alerts only. Each recipient names one address (an email address or a Telegram chat) and its filters. The
address is not a secret; the SMTP login and the bot token still come only from the environment
(MONITOR_SMTP_*, MONITOR_TELEGRAM_TOKEN), and the channels of MONITOR_EMAIL_TO / MONITOR_TELEGRAM_CHAT_ID that
no recipient names keep getting everything.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

ADDRESS = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")
CHAT = re.compile(r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{3,})$")
NAME = re.compile(r"^[^\s@:,][^@:,\n]{0,59}$")


class Recipient(BaseModel):
    """One reader and what reaches them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # how check-config, logs and `monitor status` name them: never the address
    email: str | None = None
    telegram: str | None = None  # a chat id (-100…) or @channelname
    topics: tuple[str, ...] = ()  # topic ids or titles of keywords.yaml; empty: every topic
    languages: tuple[str, ...] = ()  # the story's language (the feed's `language:`, else read from its script)
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
        text = str(value).strip()
        if not CHAT.match(text):
            raise ValueError(f"{text!r} is not a Telegram chat (a number like -1001234567890, or @channelname)")
        return text

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: object) -> tuple[str, ...]:
        values = [value] if isinstance(value, str) else list(value or ())  # type: ignore[call-overload]
        return tuple(str(v).strip().lower() for v in values)

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, value: object) -> tuple[str, ...]:
        return tuple(str(v).strip() for v in ([value] if isinstance(value, str) else list(value or ())))  # type: ignore[call-overload]

    @model_validator(mode="after")
    def _one_address(self) -> "Recipient":
        if (self.email is None) == (self.telegram is None):
            raise ValueError(f"recipient {self.name!r}: give exactly one of email: or telegram:")
        return self

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


def unique_recipients(cls, recipients: list[Recipient]) -> list[Recipient]:
    """FeedsFile's check: one entry per reader and per address."""
    seen: set[str] = set()
    for r in recipients:
        if r.name in seen or r.channel in seen:
            raise ValueError(f"two recipients are named {r.name!r} or share an address; each needs its own")
        seen.update((r.name, r.channel))
    return recipients


def topic_problems(file: str, data: object, titles: dict[str, str], line_of) -> list:
    """Every recipient's topics checked against keywords.yaml (ids or titles), at their lines, on the raw YAML
    `data` of feeds.yaml: so they are reported with the file's other mistakes, in the same pass."""
    from monitor.config.problems import Problem

    by_title = {title.casefold() for title in titles.values()}
    problems = []
    entries = data.get("recipients") if isinstance(data, dict) else None
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        topics = entry.get("topics") if isinstance(entry, dict) else None
        for j, topic in enumerate([topics] if isinstance(topics, str) else topics if isinstance(topics, list) else []):
            if str(topic) not in titles and str(topic).casefold() not in by_title:
                where = line_of(("recipients", i, "topics", j)) or line_of(("recipients", i, "topics"))
                problems.append(Problem(file, where, f"recipient {entry.get('name')!r}: unknown topic {topic!r}; "
                                        "the topics are: " + ", ".join(titles)))
    return problems
