"""One pass over an article for every term of every topic, then topic logic, scores and a snippet.

All plain and prefix terms — with every form monitor.relevance.morph generated for them, the senses' context words and
the safety net's names — go into one Aho-Corasick automaton over the folded text, whose words are joined by
single spaces; word boundaries are then a look at one character on each side, so the cost hardly grows with
the number of terms or forms. Expert regexes run on RE2 (linear time) over the same folded text. After the
pass, senses drop the occurrences of names read in another sense (monitor.relevance.senses), topics are decided,
and an urgent topic is checked against what the article reports now (monitor.relevance.current).
"""

from __future__ import annotations


import unicodedata
from bisect import bisect_right
from datetime import datetime
from itertools import accumulate

import ahocorasick

from monitor.models import MatchResult, TopicHit
from monitor.relevance.rules import VANISHING, WORD, RuleSet, Term, Topic, fold

from monitor.relevance.current import urgent_evidence
from monitor.relevance.document import Analysis, Document, Occurrence, SenseCall, TopicReport
from monitor.relevance.senses import apply_senses


from monitor.relevance.prefilter import Prefilter, _prefilter  # noqa: E402  (Prefilter is part of the API)

MAX_TITLE = 2000  # characters of a title that are read: a headline is never longer; a feed's 4.5 MB "title" is not
# one, and the rest of the text costs time and memory in proportion to its size (every step here is linear)

__all__ = ["Matcher", "Prefilter", "Analysis", "Document", "Occurrence", "TopicReport"]


class Matcher:
    """Compiled once per RuleSet; `match` is then cheap and thread-safe (no state is kept between calls)."""

    def __init__(self, rules: RuleSet):
        self.rules = rules
        index: dict[tuple[str, str], int] = {}
        self.terms: list[Term] = []
        every = [t for topic in rules.topics for t in topic.terms() + topic.not_]
        every += [t for sense in rules.senses for t in sense.terms + sense.context()] + list(rules.safety_net_terms)
        for term in every:
            if (term.kind, term.key) not in index:
                index[(term.kind, term.key)] = len(self.terms)
                self.terms.append(term)
        self._index = index
        self._auto = ahocorasick.Automaton()
        keyed: dict[str, set[tuple[int, str | None]]] = {}
        for i, term in enumerate(self.terms):
            if term.kind == "regex":
                continue
            forms = term.forms
            if not forms.keys():  # a Term built by hand: its key, as before
                forms = type(forms)((term.key,), ((term.key, "star"),) if term.kind == "prefix" else ())
            for key in forms.exact:
                keyed.setdefault(key, set()).add((i, None))
            for key, cls in forms.stems:
                keyed.setdefault(key, set()).add((i, cls))
        self._endings = {cls: rules.endings_for(cls) for cls in ("star", "tg", "fa")}
        for key, entries in keyed.items():
            # each key starts with the space before its word: the automaton then only ever reports matches that
            # begin a word, and leaves the root (where every first letter of every term waits) once per word
            self._auto.add_word(" " + key, (len(key), tuple(sorted(entries, key=lambda e: (e[0], e[1] or "")))))
        self._has_keys = bool(keyed)
        if keyed:
            self._auto.make_automaton()
        self._regexes = [(i, t.pattern) for i, t in enumerate(self.terms) if t.kind == "regex"]
        self._groups: dict[int, tuple[tuple[Term, ...], frozenset[int]]] = {}
        self._weights: dict[str, tuple[Topic, dict[int, list[float]]]] = {}
        for topic in rules.topics:  # filled now, so `match` only reads them (safe from several threads)
            self._scoring(topic)
            for group in (topic.any, topic.not_, *topic.all, *(s for n in topic.near for s in (n.one_of, n.and_one_of))):
                self._ids(group)
        self.prefilter = _prefilter(rules)

    def could_match(self, raw: str) -> bool:
        """False only when no topic can fire on any text taken from this raw page (see Prefilter)."""
        return self.prefilter.hit(raw)

    def tid(self, term: Term) -> int:
        return self._index[(term.kind, term.key)]

    def _ids(self, terms: tuple[Term, ...]) -> frozenset[int]:
        """The term ids of a group, computed once per group (a topic is decided for every article)."""
        key = id(terms)
        hit = self._groups.get(key)
        if hit is None or hit[0] is not terms:
            hit = self._groups[key] = (terms, frozenset(self.tid(t) for t in terms))
        return hit[1]

    def _scoring(self, topic: Topic) -> dict[int, list[float]]:
        """tid → the weights it counts with in this topic (a term listed twice with two weights counts twice)."""
        hit = self._weights.get(topic.name)
        if hit is None or hit[0] is not topic:
            table: dict[int, list[float]] = {}
            for term in topic.terms():
                table.setdefault(self.tid(term), []).append(term.weight)
            hit = self._weights[topic.name] = (topic, table)
        return hit[1]

    # --- the pass over the text ------------------------------------------------------------------

    def document(self, title: str, text: str) -> Document:
        title = unicodedata.normalize("NFC", (title or "")[:MAX_TITLE]).strip()
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
        norm, endings = doc.norm, self._endings
        found: set[tuple[int, int, int]] = set()  # (term, norm start, norm end)
        n = len(norm)
        for end, (length, entries) in self._auto.iter(" " + norm) if self._has_keys else ():
            start = end - length  # in norm: the padded text is one character longer
            after = end
            exact = after == n or norm[after] == " "
            stop = -1
            for tid, cls in entries:
                if exact:
                    found.add((tid, start, after))
                elif cls is not None:
                    if stop < 0:
                        stop = norm.find(" ", after)
                        stop = n if stop < 0 else stop
                    if norm[after:stop] in endings[cls]:
                        found.add((tid, start, stop))
        for tid, pattern in self._regexes:
            for m in pattern.finditer(norm):
                s, e = m.span()
                if (s == 0 or norm[s - 1] == " ") and (e == n or norm[e] == " ") and e > s:
                    found.add((tid, s, e))
        return list(found)

    # --- topics ------------------------------------------------------------------------------------

    def _topic(self, doc: Document, topic: Topic, by_term: dict[int, list[Occurrence]]) -> TopicReport:
        rep = TopicReport(topic)
        w = self.rules.weights
        factor = {"title": w.title, "lead": w.lead, "body": w.body, "end": w.end}
        found = by_term.keys()
        veto = [t.text for t in topic.not_ if self.tid(t) in by_term] if not found.isdisjoint(
            self._ids(topic.not_)) else []
        if len(veto) >= topic.not_needs:
            rep.vetoed_by = veto
        has = lambda terms: not found.isdisjoint(self._ids(terms))  # noqa: E731
        rep.any_ok = not topic.any or has(topic.any)
        rep.groups_ok = [has(g) for g in topic.all]
        for near in topic.near:
            rep.near_pairs.append(self._near(near.within, near.one_of, near.and_one_of, by_term))
        score = 0.0
        weights = self._scoring(topic)
        for tid in (found & weights.keys()) if len(found) < len(weights) else (weights.keys() & found):
            occ = by_term[tid]
            rep.occurrences.extend(occ)
            best = max(factor[o.zone] for o in occ)
            for weight in weights[tid]:
                score += weight * best * (1 + 0.25 * min(len(occ) - 1, 4))
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
        left = sorted((o for t in self._ids(a) & by_term.keys() for o in by_term[t]), key=lambda o: o.first)
        right = sorted((o for t in self._ids(b) & by_term.keys() for o in by_term[t]), key=lambda o: o.first)
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
        calls: list[SenseCall] = []
        if self.rules.senses and occ:
            occ, calls = apply_senses(self, doc, occ)
        by_term: dict[int, list[Occurrence]] = {}
        for o in occ:
            by_term.setdefault(o.term, []).append(o)
        safety = {self.tid(t) for t in self.rules.safety_net_terms}
        mentions = [o for o in occ if o.term in safety]
        return Analysis(doc, occ, [self._topic(doc, t, by_term) for t in self.rules.topics], calls, mentions)

    def by_term(self, occurrences: list[Occurrence]) -> dict[int, list[Occurrence]]:
        out: dict[int, list[Occurrence]] = {}
        for o in occurrences:
            out.setdefault(o.term, []).append(o)
        return out

    # --- results -----------------------------------------------------------------------------------

    def match(self, title: str, text: str, published: datetime | None = None) -> MatchResult:
        """Which topics fired, which were vetoed, a snippet with highlights around the best match; whether an
        urgent topic holds on what the article reports now (and the sentence that says so); and, when no
        topic fired, the one line that names GBAO for the safety net."""
        an = self.analyse(title, text)
        fired = sorted((r for r in an.reports if r.fired), key=lambda r: -r.score)
        vetoed = tuple(r.topic.name for r in an.reports if r.vetoed_by)
        if not fired:
            mention = self.mention_line(an) if self.rules.safety_net and an.mentions else ""
            return MatchResult((), vetoed, mention=mention)
        current = {r.topic.name: urgent_evidence(self, an, r, published) for r in fired if r.topic.urgent}
        hits = tuple(TopicHit(r.topic.name, r.score, self._surfaces(an.doc, r.occurrences),
                              current.get(r.topic.name) is not None,
                              tuple(dict.fromkeys(self.terms[o.term].label for o in r.occurrences)))
                     for r in fired)
        snippet, marks = self.snippet(an.doc, fired[0], [o for r in fired for o in r.occurrences])
        urgent = sorted((r.topic.urgent_rank, -r.score, r.topic.name, current[r.topic.name]) for r in fired
                        if current.get(r.topic.name) is not None)
        if not urgent:
            return MatchResult(hits, vetoed, snippet, marks)
        rank, _, topic, sentence = urgent[0]
        return MatchResult(hits, vetoed, snippet, marks, urgent_topic=topic, urgent_sentence=sentence,
                           urgent_rank=rank)

    def mention_line(self, an: Analysis) -> str:
        """The sentence around the first GBAO name, on one line, for "Other mentions of GBAO"."""
        from monitor.relevance.current import sentence_around

        first = min(an.mentions, key=lambda o: (o.start < an.doc.body_start, o.start))  # body first
        return sentence_around(an.doc, first, 200)

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
        body_start = _after_repeated_title(doc)  # extracted text often opens with the headline again
        in_body = [o for o in in_body if o.start >= body_start] or in_body
        if in_body:
            centre = in_body[0]
            lo = max(body_start, centre.start - width // 3)
        else:  # only the title matched: show the start of the body (or the title when there is none)
            lo = body_start if body_start < len(doc.text) else 0
        hi = min(len(doc.text), lo + width)
        if lo > body_start:  # start on a word
            space = doc.text.find(" ", lo, lo + 30)
            lo = space + 1 if space >= 0 else lo
        if hi < len(doc.text):
            space = doc.text.rfind(" ", hi - 30, hi)
            hi = space if space > lo else hi
        spans = [(o.start, o.end) for o in marks if o.start >= lo and o.end <= hi]
        text, spans = _squeeze(doc.text[lo:hi], [(s - lo, e - lo) for s, e in spans])
        prefix = "…" if lo > body_start and lo > 0 else ""
        suffix = "…" if hi < len(doc.text) else ""
        spans = sorted({(s + len(prefix), e + len(prefix)) for s, e in spans})
        return prefix + text + suffix, tuple(spans)

    def explain(self, title: str, text: str, published: datetime | None = None) -> str:
        """A readable account for `monitor explain`: terms per zone, senses, each topic's conditions, score,
        urgency and verdict."""
        from monitor.relevance.explanation import format_analysis

        return format_analysis(self, self.analyse(title, text), published)


def _after_repeated_title(doc: Document) -> int:
    """Where the body really starts: past the headline when the page's text repeats it as its first line.

    A walk over the title's words, each compared where the body has it (case-insensitive, any punctuation
    between): linear in the title, and it stops at the first word that differs. (A regex built from the words
    took 1.3 GB and minutes for a 4.5 MB title.)"""
    title = doc.text[: doc.body_start].split()
    text, end = doc.text, len(doc.text)
    pos = doc.body_start
    while pos < end and text[pos].isspace():
        pos += 1
    for number, word in enumerate(title):
        found = _word_at(text, pos, word.lower()) if number == 0 else -1
        k = pos
        while found < 0 and number:  # punctuation between two words: the next word may start anywhere in it
            found = _word_at(text, k, word.lower())
            if found >= 0 or k >= end or _is_word(text[k]):
                break
            k += 1
        if found < 0:
            return doc.body_start
        pos = found
    while pos < end and not text[pos].isspace():  # trailing punctuation up to the end of the line or a space
        if _is_word(text[pos]):
            return doc.body_start
        pos += 1
    while pos < end and text[pos].isspace():
        pos += 1
    return doc.body_start if not title or pos >= end else pos


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _word_at(text: str, pos: int, word: str) -> int:
    """The end of `word` when the text has it at `pos` (case-insensitive), else -1."""
    return pos + len(word) if text[pos:pos + len(word)].lower() == word else -1


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

