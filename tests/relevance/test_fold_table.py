"""Folding reads its table lazily (a character is folded the first time a text shows it): the same result, for
every character, as the whole table built at import used to give, and the same characters vanish."""

from __future__ import annotations

import importlib
import re
import unicodedata

folding = importlib.import_module("monitor.relevance.morph.fold")


def _eager_table() -> dict[int, str]:
    """The table as it was built at import before: every code point of the two ranges, changed ones only."""
    table: dict[int, str] = {}
    for cp in list(range(0x80, 0x3000)) + list(range(0xFB00, 0x10000)):
        if 0xD800 <= cp < 0xE000:
            continue
        folded = folding._fold_char(chr(cp))
        if folded != chr(cp):
            table[cp] = folded
    table.update({cp: chr(cp).lower() for cp in range(ord("A"), ord("Z") + 1)})
    return table


def test_every_character_folds_as_the_whole_table_folded_it():
    eager = _eager_table()
    every = "".join(chr(cp) for cp in range(0x80, 0x30000) if not 0xD800 <= cp < 0xE000)
    assert every.translate(folding._TABLE) == every.translate(eager)
    text = "Ҳуқуқи башар дар Хоруғ — Ёш, Ṣ, ﬁ, ﻻ ﺑ ق\u200cی, Straße, İstanbul, ё\u0301"
    before = folding._NON_ASCII.sub(lambda m: m.group().translate(eager), unicodedata.normalize("NFC", text).lower())
    assert folding.fold(text) == before and folding.fold(text).startswith("хукуки башар дар хоруг")


def test_the_characters_that_vanish_are_the_same():
    eager = _eager_table()
    before = re.compile("[" + "".join(re.escape(chr(cp)) for cp, v in sorted(eager.items()) if v == "") + "]")
    assert folding.VANISHING.pattern == before.pattern
