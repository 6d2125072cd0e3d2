"""Russian inflection from the OpenCorpora dictionary (pymorphy3 + pymorphy3-dicts-ru).

A user writes a word once in its dictionary form (an infinitive, a nominative) and gets every form of it;
a phrase's nominative words are declined together, so adjective and noun agree in case and number
(«массовое задержание» → «массовых задержаний», «массовым задержаниям»), while words written in another
case (a genitive complement: «задержание активистов») stay as written. pymorphy3 is imported only when a
form is not in the expansion cache (see monitor.relevance.morph.cache): 0.15 s and ~25 MB the first time.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from typing import Any

CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")
_CASE_POS = {"NOUN", "ADJF", "PRTF", "NUMR", "NPRO"}
MAX_COMBINATIONS = 300
MAX_STEM_REMAINDER = 8  # `приговор*`: dictionary words up to 8 letters longer than the stem


@lru_cache(maxsize=1)
def analyzer() -> Any:
    import pymorphy3  # lazily: most start-ups read every form from the cache

    return pymorphy3.MorphAnalyzer()


def _citation(word: str) -> Any | None:
    """The parse of `word` as a dictionary citation form (infinitive, or nominative), if it is one."""
    morph = analyzer()
    if not morph.word_is_known(word):
        return None
    for p in morph.parse(word):
        if p.word != word or not p.is_known:
            continue
        if p.tag.POS == "INFN" or ("nomn" in p.tag and p.tag.POS in _CASE_POS):
            return p
    return None


def known(word: str) -> bool:
    return analyzer().word_is_known(word)


def lexeme(word: str) -> list[str]:
    """Every form of the word if it is written as a citation form, else just the word."""
    p = _citation(word)
    if p is None:
        return [word]
    if p.tag.POS == "INFN":
        return list(dict.fromkeys([word] + [f.word for f in p.lexeme]))
    forms = [word]
    for q in analyzer().parse(word):  # nouns that are also adjectives ("задержанный"): every reading
        if q.word == word and q.is_known and ("nomn" in q.tag or q.tag.POS == "INFN"):
            forms += [f.word for f in q.lexeme]
    return list(dict.fromkeys(forms))


def phrase(words: list[str]) -> list[list[str]]:
    """Inflected variants of a phrase: verbs in the infinitive take all their forms (the rest as written);
    otherwise the nominative words are declined together through the six cases and both numbers."""
    if len(words) == 1:
        return [[f] for f in lexeme(words[0])]
    parses = [_citation(w) for w in words]
    if not any(parses):
        return [words]
    if any(p is not None and p.tag.POS == "INFN" for p in parses):
        options = [lexeme(w) if p is not None and p.tag.POS == "INFN" else [w] for w, p in zip(words, parses)]
        return [list(c) for c in _capped(product(*options))]
    out = [list(words)]
    for case, number in product(CASES, ("sing", "plur")):
        combo = []
        for w, p in zip(words, parses):
            if p is None or p.tag.POS not in _CASE_POS:
                combo.append(w)
                continue
            q = p.inflect({case, number})
            if q is None:
                break
            combo.append(q.word)
        else:
            out.append(combo)
    return [list(c) for c in dict.fromkeys(tuple(c) for c in out)]


def stem_words(stem: str) -> list[str]:
    """Dictionary words that begin with the stem (`приговор*` → приговорил, приговорена, приговорённых)."""
    words = analyzer().dictionary.words
    return sorted({w for w in words.keys(stem) if len(w) - len(stem) <= MAX_STEM_REMAINDER})


def _capped(combos: Any) -> list[tuple[str, ...]]:
    out = []
    for c in combos:
        out.append(c)
        if len(out) >= MAX_COMBINATIONS:
            break
    return out
