"""Per-recipient routing: each reader's channel gets the part of a digest its `recipients:` entry asks for.

A `RoutedNotifier` wraps a channel. It renders the digest cut down to the reader's topics, languages and
urgency, or nothing at all (no message is queued for that reader), and sends through the wrapped channel.
Cutting is a pure function of the digest; a story's language is its feed's `language:`, else read from the
script of its title and snippet, and an incident's entry is in every language its reports are. A reader who
takes no alerts (`urgency: digest`) finds the stories alerted since the last digest in full in the digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from monitor.config.recipients import Recipient, primary
from monitor.models import Digest, DigestStory
from monitor.stories.language import guess_language


def select(digest: Digest, r: Recipient, topics: tuple[str, ...], languages: Mapping[str, str]) -> Digest | None:
    """The digest as reader `r` should get it, or None when nothing in it is for them."""
    if digest.kind == "test":
        return digest
    if digest.kind == "urgent" and r.urgency == "digest":
        return None
    if digest.kind != "urgent" and r.urgency == "urgent":
        return None
    filtered = bool(topics or r.languages)
    if digest.kind == "health":
        return None if filtered else digest
    if r.urgency == "digest" and digest.urgent_sent:  # no alert reached them: the alerted stories, in full
        digest = replace(digest, stories=digest.urgent_sent + digest.stories, urgent_sent=())

    def wanted(story: DigestStory) -> bool:
        if topics and not set(topics) & {*story.topics, story.urgent_topic}:
            return False
        return not r.languages or bool(reported_in(story, languages) & set(r.languages))

    if not filtered:
        return digest
    stories = tuple(s for s in digest.stories if wanted(s))
    updates = tuple(s for s in digest.updates if wanted(s))
    if not stories and not updates:
        return None
    # what cannot be told apart by topic or language (other mentions, page changes, alerts sent to others,
    # the feeds' health) stays with the readers who get everything
    return replace(digest, stories=stories, updates=updates, mentions=(), more_mentions=0, changes=(),
                   urgent_sent=(), failing_feeds=())


def reported_in(story: DigestStory, languages: Mapping[str, str]) -> set[str]:
    """The languages of an entry: its lead report's, and each further source's (an incident's entry lists the
    reports of other outlets, in other languages, under one headline)."""
    found = {languages.get(story.source) or guess_language(f"{story.title}\n{story.snippet}")}
    titles = [*story.also_titles, *[""] * (len(story.also_reported_by) - len(story.also_titles))]
    for (source, _url), title in zip(story.also_reported_by, titles):  # a title "" is the lead's
        found.add(languages.get(source) or guess_language(title or story.title))
    return {primary(code) for code in found if code}


class RoutedNotifier:
    """A channel that only gets what its reader's routing selects."""

    def __init__(self, inner, recipient: Recipient, topics: tuple[str, ...], languages: Mapping[str, str]):
        self.inner, self.recipient, self.topics, self.languages = inner, recipient, topics, dict(languages)
        self.channel = inner.channel

    def describe(self) -> str:
        return f"{self.recipient.name}: {self.inner.describe()}"

    @property
    def grace(self) -> float:
        return getattr(self.inner, "grace", 0.0)  # outbox.grace_of: the wrapped channel's

    def hurry(self, deadline: float) -> None:
        """The wrapped channel's (EmailNotifier.hurry): a reader's mail is cut short on stop like everyone's."""
        if hasattr(self.inner, "hurry"):
            self.inner.hurry(deadline)

    def takes_alerts(self) -> bool:
        """A digest of nothing but alerts already sent is for the readers who took none (outbox.py)."""
        return self.recipient.urgency != "digest"

    def wants_reports(self) -> bool:
        """The weekly report goes to every reader who takes digests."""
        return self.recipient.urgency != "urgent"

    def render(self, digest: Digest) -> list[str]:
        part = select(digest, self.recipient, self.topics, self.languages)
        return self.inner.render(part) if part is not None else []

    async def send(self, message: str) -> None:
        await self.inner.send(message)
