"""One pass over an article for every term of every topic, then topic logic, scores and a snippet.

All plain and prefix terms go into one Aho-Corasick automaton over the folded text, whose words are joined
by single spaces; word boundaries are then a look at one character on each side, so the cost hardly grows
with the number of terms. Expert regexes run on RE2 (linear time) over the same folded text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

import ahocorasick

from monitor.models import MatchResult, TopicHit
from monitor.rules import VANISHING, WORD, RuleSet, Term, Topic, fold

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
    occurrences: list[Occurrence]
    reports: list[TopicReport]


_TAGS = re.compile(r"<[^<>]*>")  # removed without a space: "Хо<b>рог</b>" must stay "Хорог"


class Prefilter:
    """Cheap and conservative, before extraction: `hit(raw)` is False only when no topic can fire on any
    text extracted from the raw page. Picklable (the groups travel, the automaton is rebuilt), so extraction
    workers run it and its cost is spread over the cores."""

    def __init__(self, topics: tuple[tuple[frozenset[tuple[str, ...]], ...], ...] | None):
        self.topics = topics  # per topic, its literal necessary groups of terms (as words); None: extract all
        self._auto: ahocorasick.Automaton | None = None

    def __getstate__(self) -> tuple:
        return (self.topics,)  # a tuple: pickle skips __setstate__ for a false state such as None

    def __setstate__(self, state: tuple) -> None:
        self.__init__(state[0])

    def hit(self, raw: str) -> bool:
        if self.topics is None:
            return True
        if self._auto is None:
            self._auto = ahocorasick.Automaton()
            for key in {word for groups in self.topics for group in groups for words in group for word in words}:
                self._auto.add_word(key, key)
            self._auto.make_automaton()
        text = fold(html.unescape(_TAGS.sub("", raw)))
        found = {key for _end, key in self._auto.iter(text)}
        return any(all(any(found.issuperset(words) for words in group) for group in groups)
                   for groups in self.topics)


def _prefilter(rules: RuleSet) -> Prefilter:
    """Every literal necessary group of every topic, each term as its words.

    A topic fires only when its `any:` list, each `all:` group and both sides of each `near:` rule find a
    term, and a term is found only where each of its words occurs; so only a page on which, for some topic,
    every group has a term whose words all occur is worth extracting. A group with a regex cannot be checked
    this way and is left out; a topic with no other group turns the prefilter off.
    """
    topics = []
    for topic in rules.topics:
        groups = ([topic.any] if topic.any else []) + list(topic.all)
        groups += [side for near in topic.near for side in (near.one_of, near.and_one_of)]
        literal = tuple(frozenset(tuple(term.key.split(" ")) for term in group)
                        for group in groups if group and all(term.kind != "regex" for term in group))
        if not literal:
            return Prefilter(None)
        topics.append(literal)
    return Prefilter(tuple(topics))


class Matcher:
    """Compiled once per RuleSet; `match` is then cheap and thread-safe (no state is kept between calls)."""

    def __init__(self, rules: RuleSet):
        self.rules = rules
        index: dict[tuple[str, str], int] = {}
        self.terms: list[Term] = []
        for topic in rules.topics:
            for term in topic.terms() + topic.not_:
                if (term.kind, term.key) not in index:
                    index[(term.kind, term.key)] = len(self.terms)
                    self.terms.append(term)
        self._index = index
        self._auto = ahocorasick.Automaton()
        keyed: dict[str, list[tuple[int, bool]]] = {}
        for i, term in enumerate(self.terms):
            if term.kind != "regex":
                keyed.setdefault(term.key, []).append((i, term.kind == "prefix"))
        for key, entries in keyed.items():
            self._auto.add_word(key, (len(key), tuple(entries)))
        self._has_keys = bool(keyed)
        if keyed:
            self._auto.make_automaton()
        self._regexes = [(i, t.pattern) for i, t in enumerate(self.terms) if t.kind == "regex"]
        self.prefilter = _prefilter(rules)

    def could_match(self, raw: str) -> bool:
        """False only when no topic can fire on any text taken from this raw page (see Prefilter)."""
        return self.prefilter.hit(raw)

    def tid(self, term: Term) -> int:
        return self._index[(term.kind, term.key)]

    # --- the pass over the text ------------------------------------------------------------------

    def document(self, title: str, text: str) -> Document:
        title = unicodedata.normalize("NFC", title or "").strip()
        body = unicodedata.normalize("NFC", text or "")
        full = f"{title}\n\n{body}" if title else body
        folded = fold(full)
        norm_words = WORD.findall(folded)
        norm = " ".join(norm_words)
        starts = [0] + list(accumulate(len(w) + 1 for w in norm_words))[:-1] if norm_words else []
        n_title = len(WORD.findall(fold(title))) if title else 0
        body_words = len(norm_words) - n_title
        end_start = len(norm_words)
        if body_words >= 400:  # short texts have no sidebar worth discounting
            end_start = len(norm_words) - int(body_words * self.rules.end_fraction)
        return Document(full, len(full) - len(body), n_title, n_title + self.rules.lead_words, end_start, norm,
                        starts, folded)

    def _zone(self, doc: Document, word: int) -> str:
        if word < doc.title_words:
            return "title"
        if word < doc.lead_end:
            return "lead"
        return "end" if word >= doc.end_start else "body"

    def _spans(self, doc: Document) -> list[tuple[int, int]]:
        """Word offsets in doc.text; computed only for articles with matches."""
        if not doc.word_spans:
            spans = [m.span() for m in WORD.finditer(doc.folded)]
            gone = [m.start() for m in VANISHING.finditer(doc.text)]
            if gone:  # folded index f lies after every vanished char i with gone[i] - i <= f
                shift = [pos - i for i, pos in enumerate(gone)]
                spans = [(s + bisect_right(shift, s), e + bisect_right(shift, e - 1)) for s, e in spans]
            doc.word_spans = spans
        return doc.word_spans

    def occurrences(self, doc: Document) -> list[Occurrence]:
        """Every match of every term, mapped back to words, zones and offsets in the article."""
        found = self.raw_hits(doc)
        if not found:
            return []
        spans = self._spans(doc)
        out = []
        for tid, s, e in sorted(found, key=lambda f: (f[1], f[0])):
            first = bisect_right(doc.norm_starts, s) - 1
            last = bisect_right(doc.norm_starts, e - 1) - 1
            out.append(Occurrence(tid, first, last, spans[first][0], spans[last][1], self._zone(doc, first)))
        return out

    def raw_hits(self, doc: Document) -> list[tuple[int, int, int]]:
        """The one pass: (term, start, end) in doc.norm for every term whose match sits on word boundaries."""
        norm, endings = doc.norm, self.rules.endings
        found: list[tuple[int, int, int]] = []  # (term, norm start, norm end)
        n = len(norm)
        for end, (length, entries) in self._auto.iter(norm) if self._has_keys else ():
            start = end - length + 1
            if start and norm[start - 1] != " ":
                continue
            after = end + 1
            exact = after == n or norm[after] == " "
            for tid, prefix in entries:
                if exact:
                    found.append((tid, start, after))
                elif prefix:
                    stop = norm.find(" ", after)
                    stop = n if stop < 0 else stop
                    if norm[after:stop] in endings:
                        found.append((tid, start, stop))
        for tid, pattern in self._regexes:
            for m in pattern.finditer(norm):
                s, e = m.span()
                if (s == 0 or norm[s - 1] == " ") and (e == n or norm[e] == " ") and e > s:
                    found.append((tid, s, e))
        return found

    # --- topics ------------------------------------------------------------------------------------

    def _topic(self, doc: Document, topic: Topic, by_term: dict[int, list[Occurrence]]) -> TopicReport:
        rep = TopicReport(topic)
        w = self.rules.weights
        factor = {"title": w.title, "lead": w.lead, "body": w.body, "end": w.end}
        veto = [t.text for t in topic.not_ if self.tid(t) in by_term]
        if len(veto) >= topic.not_needs:
            rep.vetoed_by = veto
        has = lambda terms: any(self.tid(t) in by_term for t in terms)  # noqa: E731
        rep.any_ok = not topic.any or has(topic.any)
        rep.groups_ok = [has(g) for g in topic.all]
        for near in topic.near:
            rep.near_pairs.append(self._near(near.within, near.one_of, near.and_one_of, by_term))
        score = 0.0
        for term in topic.terms():
            occ = by_term.get(self.tid(term))
            if occ:
                rep.occurrences.extend(occ)
                best = max(factor[o.zone] for o in occ)
                score += term.weight * best * (1 + 0.25 * min(len(occ) - 1, 4))
        for pair in rep.near_pairs:
            if pair:
                score += self.rules.near_bonus
        rep.occurrences.sort(key=lambda o: o.start)
        rep.score = round(score, 2)
        if rep.vetoed_by:
            rep.reason = "vetoed by " + ", ".join(repr(v) for v in rep.vetoed_by)
        elif not rep.any_ok:
            rep.reason = "none of the any: terms occurs"
        elif not all(rep.groups_ok):
            rep.reason = f"all: group {rep.groups_ok.index(False) + 1} has no match"
        elif not all(rep.near_pairs):
            i = [bool(p) for p in rep.near_pairs].index(False)
            rep.reason = f"near: rule {i + 1} found no pair within {topic.near[i].within} words"
        elif rep.score < topic.min_score:
            rep.reason = f"score {rep.score:g} is below min_score {topic.min_score:g}"
        else:
            rep.fired, rep.reason = True, f"score {rep.score:g} ≥ min_score {topic.min_score:g}"
        return rep

    def _near(self, within: int, a: tuple[Term, ...], b: tuple[Term, ...],
              by_term: dict[int, list[Occurrence]]) -> tuple[Occurrence, Occurrence] | None:
        """The closest pair (one from each side) no more than `within` words apart, earliest first."""
        left = sorted((o for t in a for o in by_term.get(self.tid(t), ())), key=lambda o: o.first)
        right = sorted((o for t in b for o in by_term.get(self.tid(t), ())), key=lambda o: o.first)
        best: tuple[int, Occurrence, Occurrence] | None = None
        j = 0
        for x in left:  # both lists sorted: a sliding window keeps this linear in practice
            # only a strictly closer pair can replace the best one: the window narrows to it (a page dense
            # with terms, 1 MB of "Khorog GBAO detained", took seconds in the event loop without this)
            reach = within if best is None else min(within, best[0] - 1)
            while j < len(right) and right[j].last < x.first - reach:
                j += 1
            k = j
            while k < len(right) and right[k].first <= x.last + within:
                y = right[k]
                if best is not None and y.first - x.last >= best[0]:
                    break  # every later y is as far or farther
                if (y.first, y.last) != (x.first, x.last):
                    gap = max(y.first - x.last, x.first - y.last, 0)
                    if best is None or gap < best[0]:
                        best = (gap, x, y)
                        if gap == 0:
                            return x, y
                k += 1
        return (best[1], best[2]) if best else None

    def analyse(self, title: str, text: str) -> Analysis:
        doc = self.document(title, text)
        occ = self.occurrences(doc)
        by_term: dict[int, list[Occurrence]] = {}
        for o in occ:
            by_term.setdefault(o.term, []).append(o)
        return Analysis(doc, occ, [self._topic(doc, t, by_term) for t in self.rules.topics])

    # --- results -----------------------------------------------------------------------------------

    def match(self, title: str, text: str) -> MatchResult:
        """Which topics fired, which were vetoed, and a snippet with highlights around the best match."""
        an = self.analyse(title, text)
        fired = sorted((r for r in an.reports if r.fired), key=lambda r: -r.score)
        hits = tuple(
            TopicHit(r.topic.name, r.score, self._surfaces(an.doc, r.occurrences), r.topic.urgent) for r in fired
        )
        vetoed = tuple(r.topic.name for r in an.reports if r.vetoed_by)
        if not fired:
            return MatchResult((), vetoed)
        snippet, marks = self.snippet(an.doc, fired[0], [o for r in fired for o in r.occurrences])
        return MatchResult(hits, vetoed, snippet, marks)

    def _surfaces(self, doc: Document, occ: list[Occurrence]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(" ".join(doc.text[o.start:o.end].split()).casefold() for o in occ))

    def snippet(self, doc: Document, best: TopicReport, marks: list[Occurrence]) -> tuple[str, tuple]:
        """~snippet_chars of body text around the best evidence; highlight spans inside the snippet."""
        pairs = [p for p in best.near_pairs if p]
        anchors = [min(p, key=lambda o: o.start) for p in pairs] or best.occurrences
        in_body = [o for o in anchors if o.start >= doc.body_start] or [
            o for o in best.occurrences if o.start >= doc.body_start
        ]
        width = self.rules.snippet_chars
        if in_body:
            centre = in_body[0]
            lo = max(doc.body_start, centre.start - width // 3)
        else:  # only the title matched: show the start of the body (or the title when there is none)
            lo = doc.body_start if doc.body_start < len(doc.text) else 0
        hi = min(len(doc.text), lo + width)
        if lo > doc.body_start:  # start on a word
            space = doc.text.find(" ", lo, lo + 30)
            lo = space + 1 if space >= 0 else lo
        if hi < len(doc.text):
            space = doc.text.rfind(" ", hi - 30, hi)
            hi = space if space > lo else hi
        spans = [(o.start, o.end) for o in marks if o.start >= lo and o.end <= hi]
        text, spans = _squeeze(doc.text[lo:hi], [(s - lo, e - lo) for s, e in spans])
        prefix = "…" if lo > doc.body_start and lo > 0 else ""
        suffix = "…" if hi < len(doc.text) else ""
        spans = sorted({(s + len(prefix), e + len(prefix)) for s, e in spans})
        return prefix + text + suffix, tuple(spans)

    def explain(self, title: str, text: str) -> str:
        """A readable account for `monitor explain`: terms per zone, each topic's conditions, score, verdict."""
        return format_analysis(self, self.analyse(title, text))


def _squeeze(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """Collapse runs of whitespace to one space, moving the spans along."""
    out: list[str] = []
    newpos: list[int] = []
    for ch in text:
        newpos.append(len(out))
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch)
    newpos.append(len(out))
    return "".join(out).rstrip(), [(newpos[s], newpos[e]) for s, e in spans]


def format_analysis(matcher: Matcher, an: Analysis) -> str:
    """Plain text: every matched term with its zone, then per topic what held, what vetoed and the score."""
    doc, lines = an.doc, []
    w = matcher.rules.weights
    lines.append(f"zones: title {doc.title_words} words, lead {matcher.rules.lead_words} words (x{w.lead:g}), "
                 f"end zone from word {doc.end_start} (x{w.end:g}); title x{w.title:g}, body x{w.body:g}")
    lines.append("")
    lines.append("terms found:" if an.occurrences else "terms found: none")
    for o in an.occurrences:
        term = matcher.terms[o.term]
        lines.append(f"  {doc.text[o.start:o.end]!r:32} {o.zone:5}  word {o.first:<6} term {term.text!r}")
    verdict = []
    for rep in an.reports:
        t = rep.topic
        mark = "FIRED" if rep.fired else ("VETOED" if rep.vetoed_by else "no")
        lines += ["", f"topic {t.name}: {mark}{'  [urgent]' if t.urgent and rep.fired else ''} — {rep.reason}"]
        if t.any:
            lines.append(f"  any:  {'ok' if rep.any_ok else 'MISSING'}")
        for i, ok in enumerate(rep.groups_ok):
            lines.append(f"  all group {i + 1}: {'ok' if ok else 'MISSING'}")
        for i, pair in enumerate(rep.near_pairs):
            if pair:
                a, b = pair
                gap = max(b.first - a.last, a.first - b.last, 0)
                lines.append(f"  near {i + 1}: {doc.text[a.start:a.end]!r} and {doc.text[b.start:b.end]!r}, "
                             f"{gap} words apart (≤ {t.near[i].within})")
            else:
                lines.append(f"  near {i + 1}: no pair within {t.near[i].within} words")
        if rep.vetoed_by:
            lines.append(f"  not:  vetoed by {', '.join(rep.vetoed_by)}")
        lines.append(f"  score {rep.score:g} (min_score {t.min_score:g})")
        if rep.fired:
            verdict.append(t.name + (" (urgent)" if t.urgent else ""))
    lines += ["", "verdict: " + ("MATCHED — " + ", ".join(verdict) if verdict else "not matched")]
    return "\n".join(lines)
