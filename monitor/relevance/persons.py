"""Persons an incident report names, and one key per person across scripts.

A name is two words, the second a surname by its ending (-ov, -ev, -zoda …; «-ов», «-зода»; «ـوف», «زاده»),
after Latin or Cyrillic capitals; Persian has no capitals, so there the surname's ending alone decides.
The key is the name's consonant skeleton in Latin letters: vowels (which Persian does not write) and h
(which transliterations drop) are left out, kh/x, q/k, f/v/w and doubled letters are merged, and a Russian
case ending is cut, so "Alisher Nazarov", «Алишер Назаров», «Алишера Назарова» and «علیشیر نظروف» share one.
"""

from __future__ import annotations

import re

from monitor.models import Victim

_CYR = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюяӣӯҳқғҷ",
                ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s",
                 "t", "u", "f", "kh", "ts", "ch", "sh", "sh", "", "y", "", "e", "yu", "ya", "i", "u", "h", "q",
                 "gh", "j"]))
_FA = dict(zip("اآأبپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيكةءئۀ",
               ["a", "a", "a", "b", "p", "t", "s", "j", "ch", "h", "kh", "d", "z", "r", "z", "zh", "s", "sh", "s",
                "z", "t", "z", "", "gh", "f", "q", "k", "g", "l", "m", "n", "u", "h", "i", "i", "k", "h", "", "i",
                "h"]))
_SKELETON = (("dzh", "j"), ("zh", "j"), ("kh", "x"), ("gh", "g"), ("sh", "S"), ("ch", "C"), ("ts", "s"),
             ("q", "k"), ("w", "v"), ("f", "v"))
_CASE = re.compile(r"(ov|ev|in)(a|u|ym|om|e|oy|oj|uyu)$")
_GIVEN_CASE = re.compile(r"(?<=[^aeiouy])(a|u|om|e|ym)$")

_LAT_SURNAME = r"[A-Z][a-z'’]+(?:ov|ev|yev|ova|eva|yeva|zoda|zod|zade|bekov|bekova|shoev|shoeva|iyon)"
_CYR_SURNAME = (r"[А-ЯЁӮӢҲҚҒҶ][а-яёӯӣҳқғҷ]+(?:ов|ев|ёв|ова|ева|ёва|ову|еву|овым|евым|овой|евой|ове|еве|зода|зод|"
                r"бек|беков|бекова|шоев|шоева)(?:ро)?")
_LATIN = re.compile(r"\b([A-Z][a-z'’]{2,})\s+(" + _LAT_SURNAME + r")\b")
_CYRILLIC = re.compile(r"(?<![\w])([А-ЯЁӮӢҲҚҒҶ][а-яёӯӣҳқғҷ]{2,})\s+(" + _CYR_SURNAME + r")(?![\w])")
_PERSIAN = re.compile(r"(?<![\u0600-\u06ff])([\u0600-\u06ff]{3,})[\s\u200c]+([\u0600-\u06ff]{2,}(?:وف|اف|یف|یوف|اوا|وا|"
                      r"زاده|زوده|بیک|بیکوف))(?![\u0600-\u06ff])")
# words before a surname that are not given names (titles, prepositions, places)
_NOT_GIVEN = {"the", "mr", "ms", "activist", "journalist", "lawyer", "blogger", "резидент", "активист", "журналист",
              "блогер", "адвокат", "житель", "жителя", "фаъол", "рузноманигор", "فعال", "خبرنگار", "وکیل", "آقای",
              "خانم", "شهروند", "عضو", "از", "به", "و", "که", "را", "با", "در", "President", "Президент"}


def translit(name: str) -> str:
    """A name in lower-case Latin letters, from Latin, Cyrillic (Russian, Tajik) or Persian script."""
    out = []
    for ch in name.lower():
        out.append(_CYR.get(ch, _FA.get(ch, ch)))
    return "".join(out)


def person_key(name: str) -> str:
    """The consonant skeleton of a name: one key for its spellings in the four languages."""
    words = []
    for i, word in enumerate(translit(name).split()):
        word = re.sub(r"[^a-z]", "", word)
        word = _CASE.sub(r"\1", word) if i else _GIVEN_CASE.sub("", word) if len(word) > 4 else word
        for a, b in _SKELETON:
            word = word.replace(a, b)
        word = re.sub(r"[aeiouyh]", "", word)
        word = re.sub(r"(.)\1+", r"\1", word)
        if word:
            words.append(word)
    return " ".join(words)


def victims_in(sentence: str) -> list[Victim]:
    """Every person a sentence names, once each (by key), as written."""
    found: dict[str, Victim] = {}
    for pattern in (_LATIN, _CYRILLIC, _PERSIAN):
        for m in pattern.finditer(sentence):
            given, surname = m.group(1), m.group(2)
            if given in _NOT_GIVEN or given.lower() in _NOT_GIVEN:
                continue
            if surname.endswith("ро") and pattern is _CYRILLIC:  # the Tajik object suffix: Назаровро
                surname = surname[:-2]
            name = f"{given} {surname}"
            key = person_key(name)
            if key and key not in found:
                found[key] = Victim(name, key)
    return list(found.values())


def same_person(a: str, b: str) -> bool:
    """Two keys of one person: equal, or the same surname with one given name a prefix of the other."""
    if a == b:
        return True
    wa, wb = a.split(), b.split()
    return len(wa) == len(wb) == 2 and wa[1] == wb[1] and (wa[0].startswith(wb[0]) or wb[0].startswith(wa[0]))
