"""Tajik: suffix and prefix rules (no Tajik morphological dictionary exists as a package).

Tajik is agglutinative and regular, so a term's last word takes a closed set of endings: plural (-ҳо, -он, -ён,
-гон), izofat (-и, -ӣ), object -ро, possessives (-ам, -ат, -аш, -амон, -атон, -ашон), verb persons (-ам, -ӣ, -ад,
-ем, -ед, -анд), the perfect (-аам … -аанд, -аст), participles (-а, -агӣ, -анда), and their chains
(боздоштшудагонро, ҳабсҳояшон). A verb's first word may carry ме-, на-, наме- (мезананд, назаданд, намедонанд).
Endings are folded like the text (ӣ → и, ҳ → х), so writers who use Russian look-alike letters are matched too.
"""

from __future__ import annotations

from itertools import product

NOUN_1 = ["", "ҳо", "он", "ён", "иён", "гон", "агон", "ҳои", "и", "ӣ", "а", "агӣ", "анда", "андагон", "ак", "ча",
          "шуда", "шудагон", "гар", "гарон", "ӣ", "гӣ", "ият", "иро", "ии", "ист"]
NOUN_2 = ["", "и", "ӣ", "ро", "ва", "ам", "ат", "аш", "ям", "ят", "яш", "амон", "атон", "ашон", "ямон", "ятон",
          "яшон", "е", "ест", "аст", "ст", "анд", "ҳо", "ҳои", "ҳоро", "ҳояш", "ҳояшон", "ҳоям", "ҳоямон", "ҳоят",
          "ҳоятон", "ҳоро", "ашро", "ашонро", "амро", "ро", "чӣ", "ю", "ву", "у"]
VERB = ["ам", "ӣ", "ад", "ем", "ед", "анд", "ид", "идам", "идӣ", "идем", "идед", "иданд", "идааст", "идаанд",
        "идаам", "идаӣ", "аам", "аӣ", "аст", "ааст", "аем", "аед", "аанд", "анд", "онд", "ист", "истанд", "он",
        "ан", "ед", "да", "дан", "дааст", "даанд", "данд", "дам", "ди", "ани", "ишуда", "ашуда"]
PREFIXES = ["ме", "на", "наме", "би"]


def endings() -> list[str]:
    """Every ending a Tajik word may take (one or two suffixes chained), unfolded."""
    out = {a + b for a, b in product(NOUN_1, NOUN_2)} | set(VERB)
    out |= {v + b for v in VERB for b in ("", "ро", "и", "ӣ")}
    return sorted(out)


_PARTICLES = frozenset("дар ба аз бо то барои ва ки бар пеши баъди пас зери".split())


def izofat_variants(word: str) -> list[str]:
    """Inside a phrase the izofat -и is written or left out: Кӯҳистони ~ Кӯҳистон (not after prepositions)."""
    if word in _PARTICLES:
        return [word]
    if len(word) > 3 and word[-1] in "иӣ":
        return [word, word[:-1]]
    return [word, word + "и"]


def phrase(words: list[str]) -> list[list[str]]:
    """The words before the last with and without izofat; the last word is left to the ending check."""
    if len(words) == 1:
        return [words]
    heads = [izofat_variants(w) for w in words[:-1]]
    out = [list(c) + [words[-1]] for c in product(*heads)]
    return out[:64]
