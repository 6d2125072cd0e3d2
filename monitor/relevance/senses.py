"""Place senses: an ambiguous name read in another sense when its neighbours say so, after the one pass.

Afghan Ishkashim, Darvaz, Shighnan and Badakhshan share their names with GBAO districts; Rushan is also a
person's name. A sense (keywords.yaml `senses:`) lists the ambiguous names and the context that reads them
otherwise: a context term within N words ("Afghan", Taliban, Faizabad), a term right after or before the name,
or a capitalised next (previous) word — a surname (a given name). Context terms were found by the same
automaton pass as everything else, so deciding costs a few binary searches per ambiguous occurrence.

Two article-wide rules follow the way reports are written: a surname, once seen after the name, marks the
person wherever the name is followed by it again (also declined: Гарифуллин ~ Гарифуллина); and a name whose
first mention is read in a proximity sense keeps that sense throughout, unless some mention has evidence for
the GBAO reading (one sense per article).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

from monitor.relevance.document import SenseCall
from monitor.relevance.rules import Sense, Term

if TYPE_CHECKING:
    from monitor.relevance.document import Document, Occurrence, Pass

_CAPS = "followed by the capitalised word"
_KEEP = "\0keep"  # an occurrence with evidence for the GBAO reading (unless_near)
_FUNCTION = frozenset("the a an in of on at from to and or for by with near as but mr mrs ms dr "
                      "в во на из с со к у о об от по за под над и а но для при".split())


class _Positions:
    """Occurrences of some terms sorted by first word, for window look-ups by binary search."""

    def __init__(self, occ: list["Occurrence"]):
        self.occ = sorted(occ, key=lambda o: o.first)
        self.firsts = [o.first for o in self.occ]

    def window(self, lo: int, hi: int) -> list["Occurrence"]:
        return self.occ[bisect_left(self.firsts, lo):bisect_right(self.firsts, hi)]

    def at(self, word: int) -> list["Occurrence"]:
        return self.window(word, word)

    def ending_at(self, word: int) -> list["Occurrence"]:
        return [c for c in self.window(word - 12, word) if c.last == word]


def _gap(a: "Occurrence", b: "Occurrence") -> int:
    return max(b.first - a.last, a.first - b.last, 0)


def apply_senses(matcher: "Pass", doc: "Document", occ: list["Occurrence"]
                 ) -> tuple[list["Occurrence"], list[SenseCall]]:
    """Drop every occurrence that overlaps a name read in another sense; say which sense and why."""
    by_term: dict[int, list["Occurrence"]] = {}
    for o in occ:
        by_term.setdefault(o.term, []).append(o)
    of = lambda terms: [o for t in terms for o in by_term.get(matcher.tid(t), ())]  # noqa: E731
    names = {matcher.tid(t) for s in matcher.rules.senses for t in s.terms}
    names |= {matcher.tid(t) for t in matcher.rules.safety_net_terms}
    starts = {o.first for o in occ if o.term in names}
    calls: list[SenseCall] = []
    for sense in matcher.rules.senses:
        targets = sorted({(o.first, o.last): o for o in of(sense.terms)}.values(), key=lambda o: o.first)
        if targets:
            calls += _decide(matcher, doc, sense, targets, _Context(sense, of), starts)
    if not calls:
        return occ, []
    gone = sorted((c.occurrence.first, c.occurrence.last) for c in calls)
    firsts = [g[0] for g in gone]
    reach = []  # the furthest last word of the gone spans up to each index, for an interval-overlap test
    for _, last in gone:
        reach.append(max(last, reach[-1]) if reach else last)

    def overlaps(o: "Occurrence") -> bool:
        i = bisect_right(firsts, o.last) - 1  # spans starting at or before o.last …
        return i >= 0 and reach[i] >= o.first  # … one of which ends at or after o.first

    vetoes = {matcher.tid(t) for topic in matcher.rules.topics for t in topic.not_}
    return [o for o in occ if o.term in vetoes or not overlaps(o)], calls  # a veto phrase survives senses


class _Context:
    def __init__(self, sense: Sense, of):
        self.near, self.unless = _Positions(of(sense.near)), _Positions(of(sense.unless_near))
        self.after, self.unless_after = _Positions(of(sense.followed_by)), _Positions(of(sense.unless_followed_by))
        self.before, self.unless_before = _Positions(of(sense.preceded_by)), _Positions(of(sense.unless_preceded_by))


def _decide(matcher: "Pass", doc: "Document", sense: Sense, targets: list["Occurrence"], ctx: _Context,
            starts: set[int]) -> list[SenseCall]:
    whys = [_why(matcher, doc, sense, o, ctx, starts) for o in targets]
    calls = [SenseCall(o, sense.name, w) for o, w in zip(targets, whys) if w and w != _KEEP]
    surnames = {_word(doc, o.last + 1) for o, w in zip(targets, whys) if w.startswith(_CAPS)}
    undecided = [o for o, w in zip(targets, whys) if not w]
    for o in undecided if surnames else ():  # the surname seen elsewhere, maybe declined or in a headline
        nxt = _word(doc, o.last + 1)
        if any(_same_name(nxt, s) for s in surnames):
            calls.append(SenseCall(o, sense.name, f"followed by {nxt!r}, a surname elsewhere in the article"))
    decided = {c.occurrence.first for c in calls}
    first_call = next((c for c in calls if c.occurrence.first == targets[0].first), None)
    if first_call and sense.near and _KEEP not in whys and not first_call.why.startswith(("followed", "preceded")):
        for o in undecided:  # one sense per article: the first mention set the referent, nothing contradicts it
            if o.first not in decided:
                calls.append(SenseCall(o, sense.name, f"one sense per article: the first mention (word "
                                                      f"{targets[0].first}) is read as {sense.name}"))
    return calls


def _same_name(a: str, b: str) -> bool:
    """Гарифуллин ~ Гарифуллина ~ Гарифуллину: one a declined form of the other."""
    if not a or not b:
        return False
    short, long_ = sorted((a, b), key=len)
    return a == b or (len(short) >= 4 and long_.startswith(short[:-1]) and len(long_) - len(short) <= 3)


def _word(doc: "Document", i: int) -> str:
    """The folded word at index i (empty past the end)."""
    if i < 0 or i >= len(doc.norm_starts):
        return ""
    start = doc.norm_starts[i]
    end = doc.norm.find(" ", start)
    return doc.norm[start:] if end < 0 else doc.norm[start:end]


def _surface(doc: "Document", o: "Occurrence") -> str:
    return " ".join(doc.text[o.start:o.end].split())


def _why(matcher: "Pass", doc: "Document", sense: Sense, o: "Occurrence", ctx: _Context, starts: set[int]) -> str:
    """Why this occurrence is read in the sense; "" when nothing says so; _KEEP when context keeps GBAO."""
    w = sense.within
    near = lambda pos: [c for c in pos.window(o.first - w - 12, o.last + w)  # noqa: E731
                        if (c.first, c.last) != (o.first, o.last) and _gap(o, c) <= w]
    if near(ctx.unless):
        return _KEEP
    close = sorted(near(ctx.near), key=lambda c: _gap(o, c))
    if close:
        return f"{_surface(doc, close[0])!r} {_gap(o, close[0])} words away (within {w})"
    blocked_after = bool(ctx.unless_after.at(o.last + 1))
    after = ctx.after.at(o.last + 1)
    if after and not blocked_after:
        return f"followed by {_surface(doc, after[0])!r}"
    blocked_before = bool(ctx.unless_before.ending_at(o.first - 1))
    before = ctx.before.ending_at(o.first - 1)
    if before and not blocked_before:
        return f"preceded by {_surface(doc, before[0])!r}"
    if sense.followed_by_capitalised and not blocked_after:
        word = _capitalised(matcher, doc, o, o.last + 1, starts)
        if word:
            return f"{_CAPS} {word!r} (a surname)"
    if sense.preceded_by_capitalised and not blocked_before:
        word = _capitalised(matcher, doc, o, o.first - 1, starts)
        if word:
            return f"preceded by the capitalised word {word!r} (a given name)"
    return ""


def _capitalised(matcher: "Pass", doc: "Document", o: "Occurrence", i: int, starts: set[int]) -> str:
    """The word at index i when it is capitalised, next to the name in the same sentence (only spaces
    between), not a place name, a function word or an acronym; never in a Title-Cased headline."""
    spans = matcher._spans(doc)
    if i < 0 or i >= len(spans) or i in starts:
        return ""
    s, e = spans[i]
    between = doc.text[o.end:s] if i > o.last else doc.text[e:o.start]
    if between.strip(" \u00a0") or "\n" in between:
        return ""
    word = doc.text[s:e]
    if not word[:1].isupper() or (len(word) > 1 and word.isupper()) or word.lower() in _FUNCTION:
        return ""
    if i < o.first and (s == 0 or doc.text[:s].rstrip()[-1:] in ".!?…\n" or s == doc.body_start):
        return ""  # a capital that starts a sentence says nothing about a given name
    if o.first < doc.title_words and _title_cased(doc, spans):
        return ""
    return word


def _title_cased(doc: "Document", spans: list[tuple[int, int]]) -> bool:
    """English Title Case: no word of four letters or more after the first begins with a small letter."""
    words = [doc.text[s:e] for s, e in spans[1:doc.title_words] if e - s >= 4]
    return bool(words) and not any(w[:1].islower() for w in words)


__all__ = ["SenseCall", "apply_senses", "Term"]
