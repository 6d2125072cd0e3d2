"""Persons an incident report names, and one key per person across scripts.

A name is found by one of these classes, tried in this order (a word claimed by one is not read again):
- a Russian or Tajik name with its patronymic, in the court's order «Иномов Шухрат Давлатович» or «Шухрат
  Давлатович Иномов» (the patronymic is left out of the name);
- two words, the second a surname by its ending (-ov, -ev, -zoda …; «-ов», «-зода»; «ـوف», «زاده»), after Latin
  or Cyrillic capitals; Persian has no capitals, so there the surname's ending alone decides;
- the two words after a role word: "journalist Sherzod Safari", «журналиста Шерзода Сафари», «рӯзноманигор
  Шерзод Сафарӣ», «خبرنگار شیرزاد صفری» (whatever the surname's ending);
- a Tajik surname in -ӣ («Шерзод Сафарӣ», «Сафариро»), when the first word is no izafet (-и) and the second no
  adjective of place or nation («Помирӣ», «Ғарбӣ»).
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


_CAP = r"[А-ЯЁӮӢҲҚҒҶ][а-яёӯӣҳқғҷ]{2,}"
_PATRONYMIC = r"[А-ЯЁӮӢҲҚҒҶ][а-яёӯӣҳқғҷ]+(?:ович|евич)(?:а|у|ем|е)?(?:ро)?|[А-ЯЁӮӢҲҚҒҶ][а-яёӯӣҳқғҷ]+(?:овн|евн)(?:а|ы|е|у|ой)(?:ро)?"
_GIVEN_PATRONYMIC = re.compile(rf"(?<![\w])({_CAP})\s+(?:{_PATRONYMIC})\s+({_CAP})(?![\w])")  # given, surname
_SURNAME_PATRONYMIC = re.compile(rf"(?<![\w])({_CAP})\s+({_CAP})\s+(?:{_PATRONYMIC})(?![\w])")  # surname, given
_ROLES_LATIN = r"(?:activist|journalist|lawyer|blogger|poet|teacher|human rights defender|Mr\.?|Ms\.?|Mrs\.?)"
_ROLES_CYRILLIC = (r"(?:активист|журналист|адвокат|блогер|блоггер|правозащитник|поэт|учител)(?:а|у|ом|е|ки|ку|кой)?|"
                   r"фаъол(?:и)?|рӯзноманигор(?:и)?|ҳимоятгар(?:и)?|ҳуқуқдон(?:и)?|шоир(?:и)?")
# no "resident": «жителя Рушана Шарофа Гобилова» names the place first (a real report)
_ROLES_PERSIAN = r"(?:فعال|خبرنگار|روزنامه[\u200c ]?نگار|وکیل|آقای|خانم|شاعر|وبلاگ[\u200c ]?نویس)"
_ROLE_LATIN = re.compile(rf"\b{_ROLES_LATIN}\s+([A-Z][a-z'’]{{2,}})\s+([A-Z][a-z'’]{{2,}})\b")
_ROLE_CYRILLIC = re.compile(rf"(?<![\w])(?i:{_ROLES_CYRILLIC})\s+({_CAP})\s+({_CAP})(?![\w])")
_ROLE_PERSIAN = re.compile(rf"(?<![\u0600-\u06ff]){_ROLES_PERSIAN}\s+([\u0600-\u06ff]{{2,}})[\s\u200c]+"
                           r"([\u0600-\u06ff]{3,}(?:ی|وف|اف|یف|وا|اوا|زاده|بیک))(?![\u0600-\u06ff])")
_TAJIK_I = re.compile(rf"(?<![\w])({_CAP})\s+([А-ЯЁӮӢҲҚҒҶ][а-яёӯӣҳқғҷ]{{2,}}(?:ӣ|иро))(?![\w])")
# words that are no given name after a role word, nor a surname in -ӣ / -ی: places, nations, stop words
_NOT_NAME = {"Pamiri", "Tajik", "Khorog", "Rushan", "Dushanbe", "Помирӣ", "Ғарбӣ", "Шарқӣ", "Миллӣ", "Тоҷикӣ",
             "Русӣ", "Бадахшонӣ", "Хоруғӣ", "Рушонӣ", "Ҷумҳуриявӣ", "پامیری", "تاجیکی", "مدنی", "سیاسی", "محلی",
             "بدخشانی", "روسی", "ملی", "معروف", "حقوقی"}


def _found(sentence: str):
    """(start, end, given, surname) of each name, by class, in the order of the module's docstring."""
    for m in _GIVEN_PATRONYMIC.finditer(sentence):
        yield m.start(), m.end(), m.group(1), m.group(2)
    for m in _SURNAME_PATRONYMIC.finditer(sentence):
        yield m.start(), m.end(), m.group(2), m.group(1)
    for pattern in (_LATIN, _CYRILLIC, _PERSIAN):
        for m in pattern.finditer(sentence):
            yield m.start(), m.end(), m.group(1), m.group(2)
    for pattern in (_ROLE_LATIN, _ROLE_CYRILLIC, _ROLE_PERSIAN):
        for m in pattern.finditer(sentence):
            if m.group(1) not in _NOT_NAME and m.group(2) not in _NOT_NAME:
                yield m.start(1), m.end(), m.group(1), m.group(2)
    for m in _TAJIK_I.finditer(sentence):
        if not m.group(1).endswith(("и", "ӣ")) and m.group(2).removesuffix("ро").replace("и", "ӣ") not in _NOT_NAME:
            yield m.start(), m.end(), m.group(1), m.group(2)


def victims_in(sentence: str) -> list[Victim]:
    """Every person a sentence names, once each (by key), as written, in the order they are named."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Victim]] = []
    for start, end, given, surname in _found(sentence):
        if given in _NOT_GIVEN or given.lower() in _NOT_GIVEN or any(start < e and s < end for s, e in taken):
            continue
        if surname.endswith("ро") and re.match(r"[А-ЯЁӮӢҲҚҒҶ]", surname):  # the Tajik object suffix: Назаровро
            surname = surname[:-2]
            surname = surname[:-1] + "ӣ" if surname.endswith("и") and not given.endswith("и") else surname
        name = f"{given} {surname}"
        key = person_key(name)
        if key and all(v.key != key for _, v in found):
            taken.append((start, end))
            found.append((start, Victim(name, key)))
    return [v for _, v in sorted(found, key=lambda x: x[0])]


def _loose(key: str) -> str:
    """A key without the letters scripts disagree on: x (kh, which Russian also writes for Tajik ҳ: «Шухрат»,
    «Шуҳрат») and v (Persian و is v or a vowel: «دولتوا» is Davlatova). Stored keys stay as they were."""
    return key.replace("x", "").replace("v", "")


def same_person(a: str, b: str) -> bool:
    """Two keys of one person: equal, or (loosely, see _loose) the same surname with one given name a prefix of
    the other."""
    if a == b:
        return True
    wa, wb = _loose(a).split(), _loose(b).split()
    return len(wa) == len(wb) == 2 and wa[1] == wb[1] and (wa[0].startswith(wb[0]) or wb[0].startswith(wa[0]))
