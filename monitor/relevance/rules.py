"""keywords.yaml → a compiled RuleSet.

The file is written by non-programmers, so every mistake is reported at once with its line, and the term
syntax stays small: a word or phrase (in all its grammatical forms, see monitor.relevance.morph), `=exact` (only as
written), `stem*` (stem plus a grammatical ending), `re: ...` for experts, and `@alias` for a named list of
spellings. `senses:` say when an ambiguous name means something else (Afghan Ishkashim, a person called
Rushan); the safety-net settings say which names put an unmatched article in "Other mentions of GBAO".
Folding lives in monitor.relevance.morph.fold, shared by terms, their generated forms and the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal


from monitor.relevance import morph

try:  # RE2 runs in linear time whatever the pattern; it is the engine for users' expert regexes.
    import re2 as _re2
except ImportError:  # pragma: no cover - exercised only where google-re2 is missing
    _re2 = None

from monitor.relevance.morph.fold import VANISHING, WORD, fold, fold_words  # noqa: F401  (re-exported)

# --- grammatical endings for `stem*` -------------------------------------------------------------

_RU_ADJ = "ий ый ой ая яя ое ее ие ые ого его ому ему им ым ом ем ей ую юю их ых ими ыми".split()
_RU_NOUN = "а я у ю е и ы о ь ом ем ой ей ою ею ам ям ами ями ах ях ов ев ью ия ие ию ии ием ий".split()
_RU_VERB = "л ла ло ли лся лась лось лись ся сь ет ут ют ит ат ят".split()
_TG_1 = ["", "и", "ӣ", "ҳо", "он", "ён", "иён", "иҳо", "гон", "агон", "шуда", "шудагон", "гар", "гарон"]
_TG_2 = ["", "и", "ӣ", "ро", "ва", "ам", "ат", "аш", "амон", "атон", "ашон", "е", "ст", "ҳо", "ҳои"]
_TG_VERB = "ид иданд идааст идаанд ад анд ед ем аст ааст онд".split()
_EN = "s es ed d ing er ers ee ees ment ments ion ions e al ly".split()
_FA = "ها های ی ان یان ای".split()


def _default_endings() -> frozenset[str]:
    endings = set(_RU_NOUN) | set(_EN) | set(_FA)
    for base in ("ск", "цк", "ов", "ин", "н", "нн", "ющ", "ущ", "вш", "ш", ""):
        endings.update(base + e for e in _RU_ADJ)
    endings.update(_RU_VERB)
    endings.update("ц" + e for e in ["ы", "ев", "ам", "ами", "ах", "а", "у", "е", "ем", "ом"])
    endings.update({"ец", "ка", "ки", "ку", "ке", "кой", "кам", "ками", "ках", "ок"})
    endings.update(a + b for a in _TG_1 for b in _TG_2)
    endings.update(_TG_VERB)
    endings.discard("")
    return frozenset(fold(e) for e in endings) | morph.TAJIK_ENDINGS | morph.PERSIAN_ENDINGS


DEFAULT_ENDINGS = _default_endings()

# --- the compiled form -------------------------------------------------------------------------

TermKind = Literal["word", "prefix", "regex", "exact"]


@dataclass(frozen=True)
class Term:
    """One term as written. `key` is folded (for a prefix: the stem); `forms` is what the matcher looks for."""

    text: str  # as the user wrote it, for explain output
    key: str
    kind: TermKind = "word"
    weight: float = 1.0
    pattern: Any = field(default=None, compare=False, hash=False)
    forms: morph.Forms = field(default=morph.Forms(), compare=False, hash=False)
    concept: str = field(default="", compare=False, hash=False)  # the innermost @alias it came from

    @property
    def label(self) -> str:
        """What a reader is shown as "matched": the alias's name, else the term as written (no star)."""
        if self.concept:
            return self.concept.replace("_", " ")
        return self.text[3:].strip()[:40] if self.kind == "regex" else self.text.rstrip("*").strip()

    def reweighted(self, factor: float) -> "Term":
        return self if factor == 1.0 else replace(self, weight=self.weight * factor)


@dataclass(frozen=True)
class Sense:
    """Another reading of an ambiguous name, decided per occurrence from its neighbours after the pass."""

    name: str
    description: str
    terms: tuple[Term, ...]  # the ambiguous names
    near: tuple[Term, ...] = ()  # context anywhere within `within` words
    within: int = 10
    followed_by: tuple[Term, ...] = ()  # a term right after the name
    followed_by_capitalised: bool = False  # the next word starts with a capital letter (a surname)
    preceded_by: tuple[Term, ...] = ()
    unless_near: tuple[Term, ...] = ()  # context that keeps the GBAO reading even so
    unless_followed_by: tuple[Term, ...] = ()
    preceded_by_capitalised: bool = False  # a capitalised given name before it (Hrithik Roshan)
    unless_preceded_by: tuple[Term, ...] = ()

    def context(self) -> tuple[Term, ...]:
        return (self.near + self.followed_by + self.preceded_by + self.unless_near + self.unless_followed_by
                + self.unless_preceded_by)


@dataclass(frozen=True)
class Near:
    """`one_of` and `and_one_of` must occur within `within` words of each other."""

    within: int
    one_of: tuple[Term, ...]
    and_one_of: tuple[Term, ...]


@dataclass(frozen=True)
class Topic:
    name: str
    description: str = ""
    urgent: bool = False
    min_score: float = 1.0
    any: tuple[Term, ...] = ()
    all: tuple[tuple[Term, ...], ...] = ()
    near: tuple[Near, ...] = ()
    not_: tuple[Term, ...] = ()
    not_needs: int = 1  # distinct `not:` terms needed to veto
    urgent_rank: int = 50  # lower is sent first among one cycle's alerts
    title: str = ""  # the heading readers see; the id when empty

    def terms(self) -> tuple[Term, ...]:
        """Every term whose matches count for the score (the `not:` terms do not)."""
        out = dict.fromkeys(self.any)
        for group in self.all:
            out.update(dict.fromkeys(group))
        for near in self.near:
            out.update(dict.fromkeys(near.one_of + near.and_one_of))
        return tuple(out)


@dataclass(frozen=True)
class Weights:
    title: float = 3.0
    lead: float = 2.0
    body: float = 1.0
    end: float = 0.5


@dataclass(frozen=True)
class RuleSet:
    topics: tuple[Topic, ...]
    endings: frozenset[str] = DEFAULT_ENDINGS
    lead_words: int = 60
    end_fraction: float = 0.2
    snippet_chars: int = 300
    near_bonus: float = 1.0
    weights: Weights = Weights()
    source: str = ""
    senses: tuple[Sense, ...] = ()
    safety_net: bool = True
    safety_net_max: int = 15
    safety_net_terms: tuple[Term, ...] = ()
    ending_sets: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, hash=False)
    # the compiled `aliases:` (name → terms): the incident reader takes its vocabulary and gazetteer from them
    aliases: dict[str, tuple[Term, ...]] = field(default_factory=dict, compare=False, hash=False)

    def endings_for(self, cls: str) -> frozenset[str]:
        return self.endings if cls == "star" else self.ending_sets.get(cls, frozenset())

    @property
    def titles(self) -> dict[str, str]:
        """Topic id → the title a reader sees (the id itself for a topic without `title:`)."""
        return {t.name: t.title or t.name for t in self.topics}


# --- compiling terms ---------------------------------------------------------------------------

_UNSAFE_FALLBACK = re.compile(r"\\[1-9]|\(\?[=!<]|\)[*+?{][^)]*\)?[*+{]|[*+}]\)[*+{]")


def compile_regex(pattern: str) -> Any:
    """Compile an expert regex for the folded text, refusing anything that could run in super-linear time.

    With google-re2 (the project's dependency) every pattern is linear-time; without it, patterns with
    nested quantifiers, back-references or look-arounds are refused and the rest run on stdlib `re`.
    """
    if not pattern.strip():
        raise ValueError("empty regex")
    pattern = "".join(c if ord(c) < 128 else fold(c) for c in pattern)
    try:
        checked = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    if checked.match(""):
        raise ValueError(f"regex {pattern!r} matches empty text; it would match everywhere")
    if _re2 is not None:
        if re.search(r"\\[1-9]|\(\?<?[=!]", pattern):
            raise ValueError(f"regex {pattern!r}: back-references and look-arounds are not supported")
        try:
            return _re2.compile("(?i)" + pattern)
        except Exception as exc:  # re2 raises its own error type
            raise ValueError(f"regex {pattern!r} is not supported: {exc}") from None
    if _UNSAFE_FALLBACK.search(pattern):
        raise ValueError(f"regex {pattern!r} could be slow (nested repetition, back-reference or look-around)")
    return re.compile(pattern, re.IGNORECASE)


def compile_term(text: str, weight: float = 1.0) -> Term:
    """`Хорог*` → prefix term, `re: ...` → regex, `=Rushan` → exactly that word, else a word or phrase in all
    its forms (monitor.relevance.morph)."""
    raw = text.strip()
    if raw.lower().startswith("re:"):
        return Term(raw, raw[3:].strip(), "regex", weight, compile_regex(raw[3:].strip()))
    exact = raw.startswith("=")
    prefix = raw.endswith("*") and not exact
    body = raw[1:] if exact else raw[:-1] if prefix else raw
    if "*" in body:
        raise ValueError(f"{raw!r}: a star may only end a term (Хорог*), for other patterns use 're: ...'")
    words = fold_words(body)
    if not words:
        raise ValueError(f"{raw!r} has no letters or digits to look for")
    if prefix and not fold(body).rstrip()[-1:].isalnum():
        raise ValueError(f"{raw!r}: the star must follow a letter directly (Хорог*, not 'Хорог *')")
    kind: TermKind = "exact" if exact else "prefix" if prefix else "word"
    return Term(raw, " ".join(words), kind, weight, None, morph.expand(body, kind if kind != "word" else "word"))


