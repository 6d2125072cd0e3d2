"""A draft incident record from one report: act, date, place, victims, counts, perpetrators, each with the
sentence it was read from. Rule-based and explainable; a field the text does not state stays empty.

The reader is a second Matcher compiled from keywords.yaml's own aliases (the acts' vocabulary and the
gazetteer, in every form the morphology generates, with the same senses), so the languages, spellings and
namesakes the topics know are known here too. What the article recalls (a sentence naming an earlier year,
"years ago") is background and never read into the record: the May 2022 events recalled in today's story are
not today's act.
"""

from __future__ import annotations

import re
from datetime import datetime

from monitor.models import DraftRecord, LIFE_SENTENCE, Victim
from monitor.relevance import incident_vocab as vocab
from monitor.relevance.act_dates import act_date
from monitor.relevance.current import _BACKGROUND, _YEAR, sentences
from monitor.relevance.matcher import Matcher
from monitor.relevance import morph
from monitor.relevance.morph import TAJIK_LETTERS
from monitor.relevance.persons import victims_in
from monitor.relevance.rules import RuleSet, Topic, compile_term, fold

_PERPS = [(name, re.compile(r"(?<![\w])(?:" + "|".join(
    re.escape(fold(n[:-1])) + r"\w*" if n.endswith("*") else re.escape(fold(n)) for n in needles) + r")(?![\w])"))
    for name, needles in vocab.PERPETRATORS.items()]
_PRECEDENCE = {act: i for i, act in enumerate(vocab.ACTS)}
_COUNT_STEMS = vocab.folded_needles(vocab.COUNT_WORDS)


def language_of(text: str) -> str:
    """en, ru, tg or fa from the letters (a feed's `language:` wins where the caller has it)."""
    sample = text[:4000]
    if any("\u0600" <= c <= "\u06ff" for c in sample):
        return "fa"
    if any("\u0400" <= c <= "\u04ff" for c in sample):
        return "tg" if TAJIK_LETTERS & set(sample) else "ru"
    return "en"


class IncidentReader:
    """Compiled once per RuleSet (like the Matcher); `read` is then pure and thread-safe."""

    def __init__(self, rules: RuleSet):
        topics = []
        for act, aliases in vocab.ACTS.items():
            if act == "property":
                terms = [compile_term(t) for t in vocab.PROPERTY_TERMS]
            else:
                terms = [t for a in aliases for t in rules.aliases.get(a, ()) if vocab.act_term_kept(act, t.key)]
            topics.append(Topic("act:" + act, any=tuple(dict.fromkeys(terms))))
        places: dict[tuple[str, str], list] = {}
        for alias in vocab.GAZETTEER:
            for term in rules.aliases.get(alias, ()):
                where = vocab.locality_of(term.key)
                if where is not None:
                    places.setdefault(where, []).append(term)
        topics += [Topic(f"place:{loc}|{dist}", any=tuple(dict.fromkeys(ts))) for (loc, dist), ts in places.items()]
        morph.flush()  # the reader's own terms (a seizure of property) join the forms cache: without this every
        # start expanded them again, loading the Russian dictionary (~0.4 s CPU) for a handful of phrases
        self.matcher = Matcher(RuleSet(tuple(t for t in topics if t.any), rules.endings, rules.lead_words,
                                       rules.end_fraction, senses=rules.senses, safety_net=False,
                                       ending_sets=rules.ending_sets))
        self._kind: dict[int, list[str]] = {}
        for topic in self.matcher.rules.topics:
            for term in topic.any:
                self._kind.setdefault(self.matcher.tid(term), []).append(topic.name)

    def read(self, title: str, text: str, published: datetime | None = None, language: str = "") -> DraftRecord:
        """The draft record of one report (see the module's docstring)."""
        an = self.matcher.analyse(title, text)
        doc = an.doc
        spans = sentences(doc)
        ref = published.year if published is not None else None
        live: list[tuple[int, int, str]] = []  # sentences that report the current event: (start, end, text)
        for s, e in spans:
            raw = " ".join(doc.text[s:e].split())
            folded = fold(raw)
            if not raw or _BACKGROUND.search(folded) or (ref and any(int(y) < ref for y in _YEAR.findall(folded))):
                continue
            live.append((s, e, raw))
        tags: list[set[str]] = [set() for _ in live]
        occurrences: list[list] = [[] for _ in live]  # each sentence's own: a 2 MB dossier stays linear
        starts = [s for s, _, _ in live]
        for o in an.occurrences:
            i = _index(starts, o.start)
            if i is not None and o.start < live[i][1]:
                tags[i].update(self._kind.get(o.term, ()))
                occurrences[i].append(o)
        evidence: dict[str, str] = {}
        act, act_rows = self._act(live, tags, evidence)
        fields: dict = {"act": act, "language": language or language_of(f"{title} {text}")}
        named = set(act_rows)
        rows = act_rows + [i for i in range(len(live)) if i not in named]
        for i in rows:  # the date: the act's sentences first, then the rest of the current sentences
            when = act_date(live[i][2], published)
            if when:
                fields["date"], fields["date_precision"] = when
                evidence["date"] = live[i][2]
                break
        for home in (False, True):  # where someone lives ("a resident of Rushan") only when nothing else is named
            for i in rows:
                place = sorted(t for t in tags[i] if t.startswith("place:"))
                first = self._first_place(an.doc.text, occurrences[i], place, home) if place else None
                if first:
                    fields["place"], fields["district"] = first.split(":", 1)[1].split("|")
                    evidence["place"] = live[i][2]
                    break
            if "place" in fields:
                break
        victims: dict[str, Victim] = {}
        for i in act_rows or rows[:2]:
            for v in victims_in(live[i][2]):
                if v.key not in victims:
                    victims[v.key] = v
                    evidence.setdefault("victims", live[i][2])
        fields["victims"] = tuple(victims.values())
        for i in rows:
            for kind, n in _counts(live[i][2]).items():
                if kind not in fields:
                    fields[kind] = n
                    evidence[kind] = live[i][2]
            years = _sentence_years(live[i][2])
            if years is not None and "sentence_years" not in fields:
                fields["sentence_years"] = years
                evidence["sentence_years"] = live[i][2]
        perps: list[str] = []
        for i in act_rows:
            folded = fold(live[i][2])
            for name, pattern in _PERPS:
                if name not in perps and pattern.search(folded):
                    perps.append(name)
                    evidence.setdefault("perpetrators", live[i][2])
        fields["perpetrators"] = tuple(perps)
        order = ("act", "date", "place", "victims", "killed", "wounded", "detained", "sentence_years", "perpetrators")
        return DraftRecord(**fields, evidence=tuple((k, evidence[k]) for k in order if k in evidence))

    def _act(self, live: list, tags: list[set[str]], evidence: dict[str, str]) -> tuple[str, list[int]]:
        """The act of the first current sentence that names one (the title first); by precedence within it.
        Returns the act and the indexes of the current sentences that name it."""
        for i, found in enumerate(tags):
            acts = sorted((t[4:] for t in found if t.startswith("act:")), key=_PRECEDENCE.__getitem__)
            if acts:
                act = acts[0]
                evidence["act"] = live[i][2]
                return act, [j for j, t in enumerate(tags) if "act:" + act in t]
        return ("other" if live else ""), []

    def _first_place(self, text: str, occurrences: list, names: list[str], home: bool = True) -> str | None:
        """The place named first in the sentence (a report names where it happened before where it is told), of
        the sentence's occurrences; without `home`, not a place named as where someone lives ("resident of")."""
        best = None
        for o in occurrences:
            for kind in self._kind.get(o.term, ()):
                if kind in names and (best is None or o.start < best[0]) and (home or not _resident(text, o)):
                    best = (o.start, kind)
        return best[1] if best else (names[0] if home else None)


def _resident(text: str, o) -> bool:
    """Whether a place is named as where someone lives ("a resident of Rushan", «житель Рушана», "Rushan resident")."""
    return bool(vocab.RESIDENT_BEFORE.search(fold(text[max(o.start - 24, 0):o.start]))
                or vocab.RESIDENT_AFTER.match(fold(text[o.end:o.end + 16])))


def _index(starts: list[int], pos: int) -> int | None:
    from bisect import bisect_right

    i = bisect_right(starts, pos) - 1
    return i if i >= 0 else None


def _counts(sentence: str) -> dict[str, int]:
    """killed / wounded / detained counts a sentence states: a number within three words of the word."""
    words = re.findall(r"[^\W_]+", fold(sentence))
    out: dict[str, int] = {}
    for i, word in enumerate(words):
        n = vocab.number(word)
        beside = words[max(i - 1, 0):i] + words[i + 1:i + 2]
        if any(vocab.number(w) is not None and w.translate(vocab._DIGITS).isdigit() for w in beside):
            continue  # a part of a date or a time (2026-12-07, 10:30), not a count
        if n is None or (i + 1 < len(words) and re.match(r"(year|лет|год|сол|سال|day|дн|руз|روز|hour|час|соат)",
                                                         words[i + 1])):
            continue
        after = [w for w in words[i + 1:i + 6] if not vocab.people_word(w)][:3]
        before = words[max(i - 2, 0):i]
        for kind, stems in _COUNT_STEMS.items():
            if kind in out:
                continue
            if any(w.startswith(stems) for w in after) or any(w.startswith(stems) for w in before):
                out[kind] = n
    return out


def _sentence_years(sentence: str) -> float | None:
    folded = fold(sentence).translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))
    if not vocab.SENTENCED.search(folded):
        return None
    if vocab.LIFE.search(folded):
        return LIFE_SENTENCE
    m = vocab.YEARS.search(folded)
    if not m:
        return None
    return float(f"{m.group(1)}.{m.group(2)}") if m.group(2) else float(m.group(1))
