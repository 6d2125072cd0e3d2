"""Persian: affixes by rule (hazm would bring gensim, nltk, scikit-learn and a numpy pin for this).

A Persian word takes its suffixes attached or after a ZWNJ; the text's folding turns ZWNJ into a space, so a
suffix written that way is already its own word and needs nothing here. Attached ones are checked as endings of
the term's last word: plural ها/های/ان/یان/ات, ezafe and indefinite ی/ای, the object marker را, possessives
م/ت/ش/مان/تان/شان, verb persons م/ی/د/یم/ید/ند, the participle ه. The first word may carry می/نمی (the
continuous prefix, with its ZWNJ left out) or ن (negation). Arabic letters are folded to Persian ones (ي → ی,
ك → ک, ة → ه), diacritics and tatweel removed, by the text's folding.
"""

from __future__ import annotations

from itertools import product

_SUFFIX_1 = ["", "ها", "های", "هایی", "ان", "یان", "گان", "ات", "ی", "ای", "ه", "ند", "ید", "یم", "د", "م", "ی",
             "ست", "اند", "ایم", "اید", "است", "ام", "ای"]
_SUFFIX_2 = ["", "ی", "را", "م", "ت", "ش", "مان", "تان", "شان", "ام", "ات", "اش", "یش", "یشان", "ای", "یی"]
PREFIXES = ["می", "نمی", "ن", "ب"]


def endings() -> list[str]:
    return sorted({a + b for a, b in product(_SUFFIX_1, _SUFFIX_2)})
