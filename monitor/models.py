"""The plain data that flows between the pipeline's stages.

Every stage takes and returns these frozen dataclasses, so stages stay pure and testable and
only the I/O edges (fetch, store, deliver) touch the outside world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class FeedEntry:
    """One item as a feed (or a listing page, or a sitemap) announced it."""

    feed: str  # the feed's name in feeds.yaml
    url: str  # the link as announced (absolute)
    guid: str | None = None
    title: str = ""
    summary: str = ""  # plain text, tags stripped
    published: datetime | None = None  # timezone-aware UTC when known
    # The whole text, when the source carries it (a Telegram post): the pipeline fetches no page for it.
    text: str | None = None
    raw: bytes | None = field(default=None, compare=False, repr=False)  # the bytes `text` came from (evidence)
    # the HTTP exchange the carried text came in (the channel's preview page): kept as WARC evidence if it matches
    hops: tuple = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Article:
    """An entry after its page was fetched and its text extracted."""

    entry: FeedEntry
    final_url: str  # after redirects
    title: str
    text: str  # extracted main text (or the feed summary when extraction found nothing)
    published: datetime | None
    fetched_at: datetime
    raw_sha256: str  # of the raw page bytes, for the evidence archive ("" when not fetched)
    raw_html: bytes | None = None  # old states only: the WARC capture (evidence/) superseded keep_raw_html
    extracted: bool = True  # False when the text is the feed summary
    hops: tuple = ()  # fetch.Hop exchanges of the page fetch, kept as WARC records when the article matches


@dataclass(frozen=True)
class TopicHit:
    """One topic of keywords.yaml that fired on an article."""

    topic: str
    score: float
    terms: tuple[str, ...]  # the matched words as written in the text, casefolded, unique, in order
    urgent: bool = False
    concepts: tuple[str, ...] = ()  # what matched, as a reader names it: alias names or terms, in order


@dataclass(frozen=True)
class MatchResult:
    """What the matcher found in one article."""

    hits: tuple[TopicHit, ...] = ()  # topics that fired (not vetoed, score >= min_score)
    vetoed: tuple[str, ...] = ()  # topics whose `not:` terms vetoed the article
    snippet: str = ""  # keyword-in-context text around the first match, plain text
    highlights: tuple[tuple[int, int], ...] = ()  # [start, end) spans of matched terms in `snippet`
    urgent_topic: str = ""  # the urgent topic that holds on what the article reports now
    urgent_sentence: str = ""  # the sentence that made it urgent, quoted in the alert
    urgent_rank: int = 50  # lower goes first among one cycle's alerts
    mention: str = ""  # no topic fired but GBAO is named: the line shown in "Other mentions of GBAO"

    @property
    def matched(self) -> bool:
        return bool(self.hits)

    @property
    def score(self) -> float:
        return max((hit.score for hit in self.hits), default=0.0)

    @property
    def urgent(self) -> bool:
        return any(hit.urgent for hit in self.hits)

    @property
    def terms(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for hit in self.hits:
            seen.update(dict.fromkeys(hit.terms))
        return tuple(seen)

    @property
    def concepts(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for hit in self.hits:
            seen.update(dict.fromkeys(hit.concepts))
        return tuple(seen)


@dataclass(frozen=True)
class DigestStory:
    """A story as a reader sees it in a digest."""

    story_id: int
    title: str
    url: str
    source: str  # feed name of the first-seen source
    published: datetime | None
    topics: tuple[str, ...]
    terms: tuple[str, ...]
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()
    score: float = 0.0
    also_reported_by: tuple[tuple[str, str], ...] = ()  # (source name, url)
    found_on_recheck: bool = False  # matched only when `monitor rematch` re-scored its kept text
    urgent_topic: str = ""  # for an urgent alert: the topic that holds on the current event
    urgent_sentence: str = ""  # … and the sentence that says so
    also_titles: tuple[str, ...] = ()  # each further source's own title, "" where it is the lead's
    concepts: tuple[str, ...] = ()  # what matched, as a reader names it (alias names, terms)
    seen_at: datetime | None = None  # when the monitor fetched it: orders undated stories
    # the incident it reports, in one line: "Incident 12 · reported by 4 outlets in en, ru, tg, fa · detention ·
    # Khorog · 2026-12-05 · Alisher Nazarov" (the other reports are in also_reported_by)
    incident: str = ""


@dataclass(frozen=True)
class Mention:
    """An article that names GBAO or the Pamiris but fired no topic: the digest's safety net."""

    mention_id: int
    title: str
    url: str
    source: str
    published: datetime | None
    line: str  # the sentence that names the place


@dataclass(frozen=True)
class PageChange:
    """A matched story's page that its publisher edited or removed after we captured it."""

    capture_id: int
    story_id: int
    title: str
    url: str
    source: str
    change: str  # edited | removed
    note: str  # "edited: 2 paragraphs changed", "removed by the publisher (HTTP 404)"


@dataclass(frozen=True)
class FailingFeed:
    """A feed that has been failing for a while, listed in a digest's footer."""

    name: str
    since: datetime
    error: str


DigestKind = Literal["digest", "urgent", "backfill", "test", "health"]  # health: feeds failing or recovered


@dataclass(frozen=True)
class Digest:
    """The content of one message to the reader, before any channel renders it."""

    kind: DigestKind
    created_at: datetime
    stories: tuple[DigestStory, ...] = ()
    updates: tuple[DigestStory, ...] = ()  # known stories with new sources ("also reported by")
    failing_feeds: tuple[FailingFeed, ...] = ()
    title: str = ""  # free text for kind="test"
    mentions: tuple[Mention, ...] = ()  # "Other mentions of GBAO", the last section
    more_mentions: int = 0  # taken by this digest but over the cap, so not listed
    mention_ids: tuple[int, ...] = ()  # every mention this digest takes (listed or over the cap)
    topic_titles: tuple[tuple[str, str], ...] = ()  # (topic id, title) from keywords.yaml
    # the stories alerted since the last digest: listed by title for those who had the alerts, given in full to a
    # reader who takes no alerts (recipients: urgency: digest)
    urgent_sent: tuple[DigestStory, ...] = ()
    recovered: tuple[str, ...] = ()  # kind="health": feeds working again after an announced failure
    changes: tuple[PageChange, ...] = ()  # pages edited or removed since capture (evidence/recheck.py)
    folded: tuple[int, ...] = ()  # waiting stories shown as one incident's entry (taken by the digest too)
    timezone: str = "UTC"  # settings.timezone: every time shown is told in it, with its name
    story_base_url: str = ""  # settings.web_base_url: each entry links to its page in `monitor serve`

    def alerts_only(self) -> bool:
        """Nothing in it but alerts already sent: only a reader who takes no alerts needs it."""
        return bool(self.urgent_sent) and not (self.stories or self.updates or self.mentions or self.changes)

    def by_topic(self) -> list[tuple[str, list[DigestStory]]]:
        """Stories grouped under the title of the topic that made them urgent, else of their first topic; topics
        in order of their best story's score, newest first within a topic (the score breaks ties)."""
        groups: dict[str, list[DigestStory]] = {}
        for story in sorted(self.stories, key=lambda s: -s.score):
            topic = story.urgent_topic or (story.topics[0] if story.topics else "other")
            groups.setdefault(topic, []).append(story)
        return [(self.title_of(topic), sorted(stories, key=_newest_first)) for topic, stories in groups.items()]

    def story_page(self, story_id: int) -> str:
        """The story's page in `monitor serve` (settings: web_base_url), or "" when none is set."""
        return f"{self.story_base_url}/story/{story_id}" if self.story_base_url else ""

    def title_of(self, topic: str) -> str:
        return dict(self.topic_titles).get(topic) or topic

    @property
    def topic_names(self) -> list[str]:
        return [topic for topic, _ in self.by_topic()]


def _newest_first(story: DigestStory) -> tuple[float, float]:
    when = story.published or story.seen_at
    return (-when.timestamp() if when else float("inf"), -story.score)


@dataclass
class FeedResult:
    """What one poll of one feed did; feeds the log line and `monitor status`."""

    feed: str
    ok: bool
    error: str = ""
    not_modified: bool = False
    entries: int = 0
    new_entries: int = 0
    fetched_articles: int = 0
    matches: int = 0
    elapsed_ms: float = 0.0
    bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self, failed: list[str]) -> str:
        """The poll's log line: what came, what was new, what matched, and the first article that failed."""
        if self.not_modified:
            return f"not modified ({self.elapsed_ms:.0f} ms)"
        text = (f"{self.entries} entries, {self.new_entries} new, {self.matches} "
                f"match{'es' if self.matches != 1 else ''} ({self.elapsed_ms:.0f} ms)")
        if failed:
            text += f"; {len(failed)} article(s) unavailable, first: {failed[0]}"
        return text


@dataclass(frozen=True)
class Victim:
    """A person an incident report names: as written, and the key that makes «Алишер Назаров», "Alisher
    Nazarov" and «علیشیر نظروف» one person."""

    name: str
    key: str


@dataclass(frozen=True)
class DraftRecord:
    """What one report says about its incident, field by field; a field the text does not state stays empty.

    `evidence` maps a field's name to the sentence it was read from (the researcher checks it there).
    """

    act: str = ""  # killing, death_in_custody, detention, … other ("" when nothing was read)
    date: str = ""  # ISO day of the act (the start of the week or month for those precisions)
    date_precision: str = ""  # day, week or month
    place: str = ""  # the locality's canonical name
    district: str = ""  # its GBAO district
    victims: tuple[Victim, ...] = ()
    killed: int | None = None
    wounded: int | None = None
    detained: int | None = None
    sentence_years: float | None = None  # life: LIFE_SENTENCE
    perpetrators: tuple[str, ...] = ()  # gknb, police, border_guards, court
    language: str = ""
    evidence: tuple[tuple[str, str], ...] = ()  # (field, sentence)

    def sentence_for(self, name: str) -> str:
        return dict(self.evidence).get(name, "")


LIFE_SENTENCE = 99.0  # sentence_years of a life sentence ("life" in exports)
