"""Morphology at rule-compile time: one term as written → every spelling of it the matcher should find.

Matching stays one Aho-Corasick pass over the article whatever the morphology, because inflection happens
here, once, when keywords.yaml is compiled: a term becomes a set of exact keys (its generated forms) and of
stems whose next letters must be an ending of a known class. The language of a term is read from its letters:
Arabic script → Persian (affix rules), Latin → English (lemminflect), Cyrillic with ӣ ӯ ҳ қ ғ ҷ → Tajik (suffix
rules), other Cyrillic → Russian when the OpenCorpora dictionary knows the word (pymorphy3), else Tajik.

The dictionaries cost ~0.6 s to load; every expansion is therefore cached on disk (monitor.relevance.morph.cache), and a
start-up with an unchanged keywords.yaml loads neither.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from monitor.relevance.morph import cache, persian, tajik
from monitor.relevance.morph.fold import WORD, fold, fold_words

Mode = Literal["word", "prefix", "exact"]
TAJIK_LETTERS = frozenset("ӣӯҳқғҷӢӮҲҚҒҶ")
# ending classes a stem key may carry; "star" is the user's `stem*` class (rules.DEFAULT_ENDINGS + extra_endings)
TAJIK_ENDINGS = frozenset(fold(e) for e in tajik.endings()) - {""}
PERSIAN_ENDINGS = frozenset(fold(e) for e in persian.endings()) - {""}


@dataclass(frozen=True)
class Forms:
    """What the matcher looks for on behalf of one term: whole-word keys, and stems plus an ending class."""

    exact: tuple[str, ...] = ()
    stems: tuple[tuple[str, str], ...] = ()  # (folded key, ending class: "star" | "tg" | "fa")
    lang: str = ""

    def keys(self) -> tuple[str, ...]:
        return self.exact + tuple(k for k, _ in self.stems)


def language(words: list[str]) -> str:
    """'fa', 'en', 'tg', 'cyr' (Russian or Tajik: the dictionary decides) or 'other', from the letters."""
    letters = "".join(words)
    if any("\u0600" <= c <= "\u06ff" or "\ufb50" <= c <= "\ufeff" for c in letters):
        return "fa"
    if any("\u0400" <= c <= "\u04ff" for c in letters):
        return "tg" if TAJIK_LETTERS & set(letters) else "cyr"
    if any(c.isalpha() and c.isascii() for c in letters) or any("latin" in unicodedata.name(c, "").lower()
                                                                for c in letters if c.isalpha()):
        return "en"
    return "other"


def expand(body: str, mode: Mode) -> Forms:
    """The forms of one term (its text without the star, and whether it had one), from the cache if known."""
    body = unicodedata.normalize("NFC", body).strip()
    key = f"{mode}:{body}"
    hit = cache.get(key)
    if hit is not None:
        return Forms(tuple(hit["exact"]), tuple((k, c) for k, c in hit["stems"]), hit.get("lang", ""))
    forms = _expand(body, mode)
    cache.put(key, {"exact": list(forms.exact), "stems": [list(s) for s in forms.stems], "lang": forms.lang})
    return forms


def _pairs(body: str) -> tuple[list[str], list[str]]:
    """The term's words as written and folded, aligned (a written word may fold into more than one)."""
    written, folded = [], []
    for w in WORD.findall(body):
        for piece in fold_words(w):
            written.append(w if len(fold_words(w)) == 1 else piece)
            folded.append(piece)
    return written, folded


def _join(words: list[str]) -> str:
    return " ".join(p for w in words for p in fold_words(w))


def _expand(body: str, mode: Mode) -> Forms:
    written, folded = _pairs(body)
    key = " ".join(folded)
    if mode == "exact" or not folded:
        return Forms((key,), (), "exact")
    lang = language(written)
    lower = [w.lower() for w in written]
    if lang == "cyr":
        from monitor.relevance.morph import russian

        lang = "ru" if any(russian.known(w) for w in lower if w.isalpha()) else "tg"
    exact: list[str] = []
    stems: list[tuple[str, str]] = []
    if mode == "prefix":
        stems.append((key, "star"))
        if lang == "ru" and len(folded[-1]) >= 4:
            from monitor.relevance.morph import russian

            head = folded[:-1]
            exact += [" ".join(head + [fold(w)]) for w in russian.stem_words(lower[-1])]
        elif lang == "tg":
            stems += [(" ".join(v), "star") for v in tajik.phrase(folded)]
            if len(folded) == 1:
                stems += [(fold(p) + key, "star") for p in tajik.PREFIXES]
        elif lang == "fa":
            stems.append((key, "fa"))
            if len(folded) == 1:
                stems += [(fold(p) + key, "fa") for p in persian.PREFIXES]
    elif lang == "ru":
        from monitor.relevance.morph import russian

        exact += [_join(c) for c in russian.phrase(lower)]
    elif lang == "en":
        from monitor.relevance.morph import english

        exact += [_join(c) for c in english.phrase(lower, written)]
    elif lang == "tg":
        last = folded[-1]
        bases = [last] + ([last[:-2]] if len(last) > 5 and last.endswith(("тан", "дан")) else [])  # куштан → кушт
        for variant in tajik.phrase(folded):
            stems += [(" ".join([fold(w) for w in variant[:-1]] + [b]), "tg") for b in bases]
        if len(folded) == 1:
            stems += [(fold(p) + b, "tg") for p in tajik.PREFIXES for b in bases]
    elif lang == "fa":
        last = folded[-1]  # an infinitive (کشتن, رسیدن) also stands for its past stem (کشت, رسید)
        bases = [last] + ([last[:-1]] if len(last) > 3 and last.endswith(("تن", "دن")) else [])
        stems += [(" ".join(folded[:-1] + [b]), "fa") for b in bases]
        if len(folded) == 1:  # a verb's continuous/negative prefix, written without its ZWNJ
            stems += [(fold(p) + b, "fa") for p in persian.PREFIXES for b in bases]
    else:
        exact.append(key)
    if key not in exact and not any(k == key for k, _ in stems):
        exact.insert(0, key)
    return Forms(tuple(dict.fromkeys(exact)), tuple(dict.fromkeys(stems)), lang)


def flush() -> None:
    """Write new expansions to the on-disk cache (after a rules file was compiled)."""
    cache.save()
