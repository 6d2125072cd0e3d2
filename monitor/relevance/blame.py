"""Which rule made the noise: per topic and per term, the false alarms and misses on labelled articles.

`monitor eval` (a folder, or the state's labels) prints this after precision and recall, so a user sees which
term to veto or to add. A false alarm is charged to every topic that fired on a not-relevant article and to
every term of that topic found in it. A miss is charged to the topic whose veto blocked a relevant article (and
to the vetoing terms), or, when nothing vetoed it, to the topic that came nearest to its min_score, with the
terms it did find: those are the rule to loosen or the place to add a spelling.

Self-contained on purpose: it reads the matcher only through `_evidence`, one function to adapt when the
matcher's report changes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from monitor.relevance.samples import BORDERLINE, NOT_RELEVANT, RELEVANT, Sample
from monitor.relevance.matcher import Matcher


@dataclass(frozen=True)
class TopicEvidence:
    """How one topic fared on one article, as far as this report needs."""

    topic: str
    fired: bool
    score: float
    min_score: float
    terms: tuple[str, ...]  # the rule terms (as written in keywords.yaml) found in the article
    vetoed_by: tuple[str, ...]
    reason: str

    @property
    def closeness(self) -> float:
        """How near the topic came to firing: its score over min_score (a veto counts as reached)."""
        return self.score / self.min_score if self.min_score else float(bool(self.terms))


def _evidence(matcher: Matcher, title: str, text: str) -> list[TopicEvidence]:
    """Every topic's outcome on one article, with the rule terms behind it."""
    analysis = matcher.analyse(title, text)
    out = []
    for rep in analysis.reports:
        terms = tuple(dict.fromkeys(matcher.terms[o.term].text for o in rep.occurrences))
        out.append(TopicEvidence(rep.topic.name, rep.fired, rep.score, rep.topic.min_score, terms,
                                 tuple(rep.vetoed_by), rep.reason))
    return out


@dataclass
class TopicBlame:
    false_alarms: int = 0
    misses: int = 0
    fa_terms: Counter = field(default_factory=Counter)  # term → false alarms it took part in
    miss_terms: Counter = field(default_factory=Counter)  # veto term → relevant articles it blocked
    near_terms: Counter = field(default_factory=Counter)  # term found in a miss the topic came nearest to


@dataclass
class Blame:
    topics: dict[str, TopicBlame] = field(default_factory=dict)
    false_alarms: list[tuple[Sample, list[TopicEvidence]]] = field(default_factory=list)  # the topics that fired
    misses: list[tuple[Sample, TopicEvidence | None, list[TopicEvidence]]] = field(default_factory=list)

    def topic(self, name: str) -> TopicBlame:
        return self.topics.setdefault(name, TopicBlame())


def blame(samples: list[Sample], matcher: Matcher) -> Blame:
    """Charge every false alarm and every miss among `samples` to topics and terms."""
    out = Blame()
    for s in samples:
        if s.label == BORDERLINE:
            continue
        evidence = _evidence(matcher, s.title, s.text)
        fired = [e for e in evidence if e.fired]
        if s.label == NOT_RELEVANT and fired:
            out.false_alarms.append((s, fired))
            for e in fired:
                tb = out.topic(e.topic)
                tb.false_alarms += 1
                tb.fa_terms.update(e.terms)
        elif s.label == RELEVANT and not fired:
            vetoed = [e for e in evidence if e.vetoed_by]
            nearest = max(evidence, key=lambda e: (e.closeness, len(e.terms)), default=None)
            if nearest is not None and not nearest.terms:
                nearest = None  # no topic found anything: a spelling or a whole concept is missing
            out.misses.append((s, nearest, vetoed))
            for e in vetoed:
                tb = out.topic(e.topic)
                tb.misses += 1
                tb.miss_terms.update(e.vetoed_by)
            if not vetoed and nearest is not None:
                tb = out.topic(nearest.topic)
                tb.misses += 1
                tb.near_terms.update(nearest.terms)
    return out


def _name(s: Sample, root) -> str:
    try:
        return str(s.path.relative_to(root))
    except ValueError:
        return str(s.path)


def format_blame(b: Blame, root) -> str:
    """Plain text: per topic its false alarms and misses, per term its share; then every case in one line."""
    if not b.topics and not b.misses:
        return "per rule: no false alarm and no miss"
    lines = ["per rule (which topic and which term caused the false alarms and misses):"]
    for name, tb in sorted(b.topics.items(), key=lambda kv: -(kv[1].false_alarms + kv[1].misses)):
        lines.append(f"  topic {name}: {tb.false_alarms} false alarm(s), {tb.misses} miss(es)")
        for term, n in tb.fa_terms.most_common():
            lines.append(f"    term {term!r:30} fired in {n} false alarm(s)  → a `not:` veto or a narrower term?")
        for term, n in tb.miss_terms.most_common():
            lines.append(f"    veto {term!r:30} blocked {n} relevant article(s)  → narrow or drop this `not:` term?")
        for term, n in tb.near_terms.most_common():
            lines.append(f"    term {term!r:30} present in {n} miss(es), not enough  → add the missing term or "
                         "lower min_score?")
    if b.false_alarms:
        lines += ["", "false alarms, by the terms that fired:"]
        for s, fired in b.false_alarms:
            why = "; ".join(f"{e.topic} {e.score:g}: {', '.join(e.terms)}" for e in fired)
            lines.append(f"  {_name(s, root)}  [{why}]")
    if b.misses:
        lines += ["", "misses, by the topic that came nearest:"]
        for s, nearest, vetoed in b.misses:
            if vetoed:
                why = "; ".join(f"{e.topic} vetoed by {', '.join(e.vetoed_by)}" for e in vetoed)
            elif nearest is not None:
                why = (f"{nearest.topic} score {nearest.score:g} of min_score {nearest.min_score:g} "
                       f"({nearest.reason}); terms present: {', '.join(nearest.terms)}")
            else:
                why = "no term of any topic occurs: a spelling or a concept is missing from keywords.yaml"
            lines.append(f"  {_name(s, root)}  [{why}]")
    return "\n".join(lines)
