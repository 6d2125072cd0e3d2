"""Place senses: an ambiguous name read in another sense when its neighbours say so, after the one pass.

Afghan Ishkashim, Darvaz, Shighnan and Badakhshan share their names with GBAO districts; Rushan is also a
person's name. A sense (keywords.yaml `senses:`) lists the ambiguous names and the context that reads them
otherwise: a context term within N words ("Afghan", Taliban, Faizabad), a term right after or before the name,
or a capitalised next word (a surname). Context terms were found by the same automaton pass as everything
else, so deciding costs a look at the neighbours of each ambiguous occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.rules import Sense, Term

if TYPE_CHECKING:
    from . import Document, Matcher, Occurrence


@dataclass(frozen=True)
class SenseCall:
    """One occurrence read in another sense, and why (for `monitor explain`)."""

    occurrence: "Occurrence"
    sense: str
    why: str


def _gap(a: "Occurrence", b: "Occurrence") -> int:
    return max(b.first - a.last, a.first - b.last, 0)


def apply_senses(matcher: "Matcher", doc: "Document", occ: list["Occurrence"]
                 ) -> tuple[list["Occurrence"], list[SenseCall]]:
    """Drop every occurrence that overlaps a name read in another sense; say which sense and why."""
    by_term: dict[int, list["Occurrence"]] = {}
    for o in occ:
        by_term.setdefault(o.term, []).append(o)
    of = lambda terms: [o for t in terms for o in by_term.get(matcher.tid(t), ())]  # noqa: E731
    calls: list[SenseCall] = []
    names = {matcher.tid(t) for s in matcher.rules.senses for t in s.terms}
    names |= {matcher.tid(t) for t in matcher.rules.safety_net_terms}
    starts = {o.first for o in occ if o.term in names}
    for sense in matcher.rules.senses:
        surnames: set[str] = set()
        undecided = []
        for o in of(sense.terms):
            why = _why(matcher, doc, sense, o, of, starts)
            if why:
                calls.append(SenseCall(o, sense.name, why))
                if why.startswith(_CAPS):
                    surnames.add(_next_word(doc, matcher, o))
            else:
                undecided.append(o)
        for o in undecided if surnames else ():  # "Rushan Abbas" in a Title-Cased headline, once the body said so
            if _next_word(doc, matcher, o) in surnames:
                calls.append(SenseCall(o, sense.name, f"followed by {_next_word(doc, matcher, o)!r}, a surname "
                                                      "elsewhere in the article"))
    if not calls:
        return occ, []
    gone = [(c.occurrence.first, c.occurrence.last) for c in calls]
    kept = [o for o in occ if not any(o.first <= last and first <= o.last for first, last in gone)]
    return kept, calls


_CAPS = "followed by the capitalised word"


def _next_word(doc: "Document", matcher: "Matcher", o: "Occurrence") -> str:
    i = o.last + 1
    if i >= len(doc.norm_starts):
        return ""
    start = doc.norm_starts[i]
    end = doc.norm.find(" ", start)
    return doc.norm[start:] if end < 0 else doc.norm[start:end]


def _surface(doc: "Document", o: "Occurrence") -> str:
    return " ".join(doc.text[o.start:o.end].split())


def _why(matcher: "Matcher", doc: "Document", sense: Sense, o: "Occurrence", of, starts: set[int]) -> str:
    if any(_gap(o, c) <= sense.within and (c.first, c.last) != (o.first, o.last) for c in of(sense.unless_near)):
        return ""
    for c in sorted(of(sense.near), key=lambda c: _gap(o, c)):
        if (c.first, c.last) != (o.first, o.last) and _gap(o, c) <= sense.within:
            return f"{_surface(doc, c)!r} {_gap(o, c)} words away (within {sense.within})"
    after = [c for c in of(sense.followed_by) if c.first == o.last + 1]
    if after and not any(c.first == o.last + 1 for c in of(sense.unless_followed_by)):
        return f"followed by {_surface(doc, after[0])!r}"
    before = [c for c in of(sense.preceded_by) if c.last == o.first - 1]
    if before:
        return f"preceded by {_surface(doc, before[0])!r}"
    if sense.followed_by_capitalised:
        word = _capitalised_next(matcher, doc, o, starts)
        if word and not any(c.first == o.last + 1 for c in of(sense.unless_followed_by)):
            return f"{_CAPS} {word!r} (a surname)"
    return ""


def _capitalised_next(matcher: "Matcher", doc: "Document", o: "Occurrence", starts: set[int]) -> str:
    """The next word when it starts with a capital, in the same sentence, and is not itself a place name;
    never in a Title-Cased headline, where every word is capitalised."""
    spans = matcher._spans(doc)
    nxt = o.last + 1
    if nxt >= len(spans) or nxt in starts:
        return ""
    s, e = spans[nxt]
    between = doc.text[o.end:s]
    if between.strip(" \u00a0") or "\n" in between:
        return ""
    word = doc.text[s:e]
    if not word[:1].isupper() or (len(word) > 1 and word.isupper()):
        return ""
    if o.first < doc.title_words and _title_cased(doc, spans):
        return ""
    return word


def _title_cased(doc: "Document", spans: list[tuple[int, int]]) -> bool:
    words = [doc.text[s:e] for s, e in spans[:doc.title_words] if e - s >= 4]
    return bool(words) and sum(w[:1].isupper() for w in words) >= 0.75 * len(words)


__all__ = ["SenseCall", "apply_senses", "Term"]
