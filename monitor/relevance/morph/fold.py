"""Text folding that terms and articles share: case, accents, Tajik and Arabic look-alike letters, ZWNJ.

A term and the text it should find must be folded by the very same function, so it lives here, below both the
rule compiler and the morphology that generates a term's forms.
"""

from __future__ import annotations

import re
import unicodedata

# --- folding -----------------------------------------------------------------------------------

# Tajik letters that writers replace by their Russian look-alikes (ӣ and ӯ lose their macron below).
_LOOKALIKES = {"ҳ": "х", "қ": "к", "ғ": "г", "ҷ": "ч", "ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "ۀ": "ه"}
_SPACE_LIKE = "\u200c\u00a0\u2009\u202f"  # ZWNJ (Persian half-space) and no-break spaces count as spaces
_DELETE = "\u0640\u200d\u00ad\u200b"  # tatweel, ZWJ, soft hyphen, zero-width space vanish


def _fold_char(ch: str) -> str:
    if ch in _SPACE_LIKE:
        return " "
    if ch in _DELETE or unicodedata.combining(ch):
        return ""
    out = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)).casefold()
    out = "".join(_LOOKALIKES.get(c, c) for c in out)
    if len(out) != 1:  # ß, ligatures, İ: keep one character so offsets stay simple
        low = ch.lower()
        return low if len(low) == 1 else ch
    return out


def _in_table(cp: int) -> bool:
    """The code points folding looks up: Latin to CJK punctuation, and the compatibility and Arabic forms."""
    return (0x80 <= cp < 0x3000 or 0xFB00 <= cp < 0x10000) and not 0xD800 <= cp < 0xE000


class _FoldTable(dict):
    """code point → its folded character, computed the first time a text shows it. Built whole, the table cost
    ~0.1 s of every start (and of every extraction worker's) for the few hundred characters pages use."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        folded = _fold_char(ch) if _in_table(cp) else ch
        self[cp] = folded
        return folded


_TABLE: dict[int, str] = _FoldTable({cp: chr(cp).lower() for cp in range(ord("A"), ord("Z") + 1)})

WORD = re.compile(r"[^\W_]+")
# Characters that vanish in folding (combining marks, tatweel, soft hyphen): the matcher maps offsets around them.
# _fold_char returns "" exactly for these (a space-like character becomes a space).
VANISHING = re.compile("[" + "".join(re.escape(chr(cp)) for cp in [*range(0x80, 0x3000), *range(0xFB00, 0x10000)]
                                     if _in_table(cp) and chr(cp) not in _SPACE_LIKE
                                     and (chr(cp) in _DELETE or unicodedata.combining(chr(cp)))) + "]")


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def fold(text: str) -> str:
    """NFC, casefold, strip accents (ё=е, ӣ=и, ų=u), Tajik/Arabic letters → look-alikes, ZWNJ → space.

    lower() runs in C and the table only over runs of non-ASCII characters: a 120 KB page with one curly
    quote folds in 3 ms instead of 10, with the same result as the table alone for every letter we read.
    """
    return _NON_ASCII.sub(lambda m: m.group().translate(_TABLE), unicodedata.normalize("NFC", text).lower())


def fold_words(text: str) -> list[str]:
    """The folded words of a text: letters and digits; everything else separates words."""
    return WORD.findall(fold(text))
