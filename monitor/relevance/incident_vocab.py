"""The incident reader's vocabulary: which of keywords.yaml's aliases name which act, which gazetteer name is
which locality of which district, and the few word lists keywords.yaml has no place for (perpetrators, counts,
a seizure of property).

Acts reuse the matcher's aliases, so every form the morphology generates and every sense (Afghan Ishkashim, a
person called Rushan) applies to them as it does to the topics. The gazetteer has spellings but no canonical
names: `locality_of` gives each of its terms one, and a test checks that no gazetteer term is left without.
"""

from __future__ import annotations

import re

from monitor.relevance.rules import fold

# act → the keywords.yaml aliases whose terms name it (in the order of precedence when several are reported)
ACTS: dict[str, tuple[str, ...]] = {
    "death_in_custody": ("custody_death",),
    "killing": ("killing", "deaths"),
    "disappearance": ("abduction", "disappearance"),
    "torture": ("torture",),
    "sentence": ("trial",),
    "extradition": ("forced_return",),
    "detention": ("detention", "mass_detention"),
    "summons": ("summons", "relatives"),
    "shutdown": ("internet",),
    "protest": ("protest", "dispersal"),
    "property": (),
}
ACT_NAMES = tuple(ACTS) + ("other",)

# Terms of an alias that do not state the act itself: the wounded are counted, not killed; a charge or a
# wanted list is not a sentence.
_NOT_THE_ACT = {
    "killing": ("wound", "injur", "ранит", "ранен", "захми", "мачрух", "زخمی", "مجروح"),
}
_ONLY = {
    "sentence": ("sentenc", "convict", "guilty", "verdict", "prison", "jail", "life ", "приговор", "осуд",
                 "маxкум", "махкум", "хукм", "محکوم", "حبس"),
}

# A seizure, demolition or eviction: keywords.yaml has no alias for it (it is no topic of its own). Each kind in
# the four languages; a bare "seize" or «разрушить» is left out (phones are seized, bridges destroyed). Tajik
# phrases without a Tajik-only letter take a star: the Russian dictionary does not know them, so they get no endings.
PROPERTY_TERMS = (
    # demolition
    "demolish", "demolition", "bulldoze", "raze", "снести дом", "снос", "разрушить дом", "вайрон кард*", "хароб кард*",
    "تخریب", "ویران کرد",
    # seizure
    "confiscate", "confiscation", "seize property", "seized the house", "seized his house", "seized her house",
    "конфисковать", "конфискация", "изъять имущество", "изъятие имущества", "мусодираи амвол", "мусодира",
    "مصادره",
    # eviction
    "evict", "eviction", "выселить", "выселение", "бадар кард*", "берун кард*", "кӯчонд*", "اخراج از خانه",
    "بیرون کرد", "تخلیه خانه")

# A place named as where someone lives is not where the act happened ("a Rushan resident sentenced in Khorog"):
# folded words just before the place's name, or just after it.
RESIDENT_BEFORE = re.compile(r"(?:resident of|native of|residents of|житель|жителя|жителю|жители|жителей|уроженец|"
                             r"уроженца|сокини|сокинони|اهل|ساکن)\s+(?:\w+\s+)?$")
RESIDENT_AFTER = re.compile(r"\s*(?:resident|native|residents)\b")

# canonical perpetrator → folded needles (word starts) in the act's sentences
PERPETRATORS: dict[str, tuple[str, ...]] = {  # folded words; a star: any ending
    "gknb": ("gknb", "state committee for national security", "national security committee", "гкнб", "кдам",
             "кумитаи давлатии амнияти милли", "کمیته دولتی امنیت ملی", "کمیته امنیت ملی"),
    "police": ("police*", "policem*", "полиц*", "милиц*", "милитсия*", "пулис*", "پلیس", "نیروهای انتظامی"),
    "border_guards": ("border guard*", "пограничн*", "сархадбон*", "مرزبان*"),
    "court": ("court", "courts", "суд", "суда", "судом", "суде", "суди", "судья", "додгох*", "دادگاه*"),
}

# (locality, district) → folded needles that a gazetteer term's key contains
_LOCALITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Porshinev", "Shughnan", ("porsh", "поршн", "поршин")),
    ("Qalai Khumb", "Darvoz", ("khumb", "khum", "хумб", "قلعه خم")),
    ("Roshtqala", "Roshtqala", ("rosht", "рошт", "رشت")),
    ("Shokhdara", "Roshtqala", ("shokhdar", "shakhdar", "шохдар")),
    ("Yazgulom", "Vanj", ("yazg", "yazgh", "язг", "یزغلام")),
    ("Vamar", "Rushan", ("vamar", "wamar", "vomar", "вамар", "вомар", "وامر")),
    ("Roshorv", "Rushan", ("roshorv",)),
    ("Bartang", "Rushan", ("bartang", "бартанг", "بارتنگ")),
    ("Basid", "Rushan", ("basid", "басид")),
    ("Savnob", "Rushan", ("savnob", "савноб")),
    ("Rushan", "Rushan", ("rushan", "rushon", "roshan", "рушан", "рушон", "روشان", "رشان")),
    ("Khorog", "Khorog", ("khor", "korog", "horog", "xor", "chorog", "хор", "خاروغ", "خوروغ", "خروغ", "خاروق",
                          "خاروگ", "خوروگ")),
    ("Shughnan", "Shughnan", ("shugn", "shughn", "shighn", "шугн", "شغنان")),
    ("Ishkashim", "Ishkashim", ("ishk", "eshk", "ишк", "اشکاشم", "اشکشم")),
    ("Vanj", "Vanj", ("vanj", "wanj", "ванч", "ونج")),
    ("Darvoz", "Darvoz", ("darvoz", "darvaz", "darwaz", "дарвоз", "дарваз", "درواز")),
    ("Murghob", "Murghob", ("murgh", "murgab", "мургоб", "мургаб", "مرغاب")),
    ("Alichur", "Murghob", ("alichur", "аличур")),
    ("Gunt", "Shughnan", ("gunt", "гунт")),
    ("Jelondy", "Shughnan", ("jelond", "джелонд", "челонд")),
)
GAZETTEER = ("khorog", "rushan", "gbao_districts")  # the aliases whose terms name localities


def locality_of(key: str) -> tuple[str, str] | None:
    """(locality, district) of a gazetteer term's folded key, or None."""
    for locality, district, needles in _LOCALITIES:
        if any(n in key for n in needles):
            return locality, district
    return None


def act_term_kept(act: str, key: str) -> bool:
    """Whether a term of the act's aliases states the act itself (see _NOT_THE_ACT and _ONLY)."""
    if any(n in key for n in _NOT_THE_ACT.get(act, ())):
        return False
    only = _ONLY.get(act)
    return only is None or any(n in key + " " for n in only)


# --- counts ---------------------------------------------------------------------------------------

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "один": 1, "одного": 1, "два": 2, "двое": 2, "двух": 2, "три": 3, "трое": 3, "трех": 3, "четыре": 4,
    "четверо": 4, "пять": 5, "пятеро": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9, "десять": 10,
    "як": 1, "ду": 2, "се": 3, "чор": 4, "панч": 5, "шаш": 6, "хафт": 7, "хашт": 8, "нух": 9, "дах": 10,
    "یک": 1, "دو": 2, "سه": 3, "چهار": 4, "پنج": 5, "شش": 6, "هفت": 7, "هشت": 8, "نه": 9, "ده": 10,
}
COUNT_WORDS: dict[str, tuple[str, ...]] = {  # folded word starts after (or before) the number
    "killed": ("killed", "dead", "died", "убит", "погиб", "застрел", "кушта", "халок", "کشته", "جان باخت"),
    "wounded": ("wounded", "injured", "ранен", "ранены", "захми", "мачрух", "زخمی", "مجروح"),
    "detained": ("detained", "arrested", "задержан", "арестован", "боздошт", "дастгир", "بازداشت", "دستگیر"),
}
_PEOPLE = ("people", "persons", "men", "residents", "activists", "человек", "жител", "активист", "нафар", "тан",
           "نفر", "تن", "were", "have", "had", "been", "was", "были", "шуданд", "شدند", "شده")
YEARS = re.compile(r"(?<!\d)(\d{1,2})(?:[.,](\d))?\s+(?:years?|лет|год\w*|сол\w*|سال)\b")
LIFE = re.compile(r"\b(life sentence|life imprisonment|to life|пожизненн\w*|якумри|حبس ابد)")
SENTENCED = re.compile(r"\b(sentenc\w*|jail\w*|prison|приговор\w*|осужд\w*|лишени\w* свободы|махкум\w*|хукм\w*|"
                       r"зиндон\w*|محکوم\w*|حبس|زندان)")


def people_word(word: str) -> bool:
    return any(word.startswith(p) for p in _PEOPLE)


def number(word: str) -> int | None:
    """A count written in digits (Latin or Persian) or as a small number word."""
    word = word.translate(_DIGITS)
    if word.isdigit():
        value = int(word)
        return value if 0 < value < 1000 else None
    return NUMBER_WORDS.get(word)


_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


def folded_needles(table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(fold(n) for n in v) for k, v in table.items()}
