"""The article as the matcher sees it, and what the pass found: the types the after-pass steps (senses.py,
current.py, explanation.py) share with matcher.py without importing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from monitor.relevance.rules import RuleSet, Term, Topic


ZONES = ("title", "lead", "body", "end")



@dataclass(frozen=True)
class Occurrence:
    """One place where a term matched: word positions [first, last] and offsets in the article string."""

    term: int  # index into Matcher.terms
    first: int
    last: int
    start: int  # in Document.text (title + blank line + body, NFC)
    end: int
    zone: str



@dataclass
class Document:
    """The article as the matcher sees it: NFC text, folded words, zone borders in words."""

    text: str
    body_start: int  # offset of the body in `text`
    title_words: int
    lead_end: int  # first word index after the lead
    end_start: int  # first word index of the "end" zone (sidebar, related links, footer)
    norm: str  # folded words joined by single spaces
    norm_starts: list[int]
    folded: str = ""
    word_spans: list[tuple[int, int]] = field(default_factory=list)



@dataclass
class TopicReport:
    """How one topic fared, for `match` and for `explain`."""

    topic: Topic
    fired: bool = False
    vetoed_by: list[str] = field(default_factory=list)
    any_ok: bool = True
    groups_ok: list[bool] = field(default_factory=list)
    near_pairs: list[tuple[Occurrence, Occurrence] | None] = field(default_factory=list)
    occurrences: list[Occurrence] = field(default_factory=list)
    score: float = 0.0
    reason: str = ""



@dataclass
class Analysis:
    doc: Document
    occurrences: list[Occurrence]  # after senses: what topics and the safety net see
    reports: list[TopicReport]
    senses: list[SenseCall] = field(default_factory=list)
    mentions: list[Occurrence] = field(default_factory=list)  # safety-net names left after senses


@dataclass(frozen=True)
class SenseCall:
    """One occurrence read in another sense, and why (for `monitor explain`)."""

    occurrence: "Occurrence"
    sense: str
    why: str


class Pass(Protocol):
    """What the after-pass steps need of the Matcher (matcher.py): its rules, its term table, and the topic
    logic, to decide a topic again on fewer occurrences."""

    rules: RuleSet
    terms: list[Term]

    def tid(self, term: Term) -> int: ...

    def by_term(self, occurrences: list[Occurrence]) -> dict[int, list[Occurrence]]: ...

    def _topic(self, doc: Document, topic: Topic, by_term: dict[int, list[Occurrence]]) -> TopicReport: ...

    def _spans(self, doc: Document) -> list[tuple[int, int]]: ...
