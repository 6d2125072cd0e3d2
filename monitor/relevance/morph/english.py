"""English inflection from lemminflect's dictionary: regular and irregular forms of a lemma.

`detain` → detained, detaining, detains; `beat` → beaten; `take` → took, taken; `go missing` → went missing.
Only lower-case words are inflected (a capitalised word in a term is a name), and never function words.
lemminflect (1 MB, numpy only) is imported when a form is not in the expansion cache.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product

STOPWORDS = frozenset("""a an the of in on at by to for from with into onto over under and or but as is are was
were be been being has have had do does did not no nor it its this that these those he she they we you his her
their our your who whom which what when where why how than then so if up out off per via near about after before
against between during without within""".split())
MAX_COMBINATIONS = 300


@lru_cache(maxsize=4096)
def inflections(word: str) -> tuple[str, ...]:
    """The word and every inflected form lemminflect knows for it as a lemma (noun, verb, adjective)."""
    if word in STOPWORDS or len(word) < 2 or not word.isalpha():
        return (word,)
    import lemminflect  # lazily: most start-ups read every form from the cache

    forms = dict.fromkeys([word])
    for group in lemminflect.getAllInflections(word).values():
        forms.update(dict.fromkeys(f.lower() for f in group))
    return tuple(forms)


def phrase(words: list[str], original: list[str]) -> list[list[str]]:
    """Every combination of the words' forms; words written with a capital letter stay as they are."""
    options = [inflections(w) if o[:1].islower() else (w,) for w, o in zip(words, original)]
    out = []
    for combo in product(*options):
        out.append(list(combo))
        if len(out) >= MAX_COMBINATIONS:
            break
    return out
