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
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from monitor.relevance import morph
from monitor.config.feeds import ConfigError, LineOf, Problem, load_yaml, validation_problems

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

    def endings_for(self, cls: str) -> frozenset[str]:
        return self.endings if cls == "star" else self.ending_sets.get(cls, frozenset())

    @property
    def titles(self) -> dict[str, str]:
        """Topic id → the title a reader sees (the id itself for a topic without `title:`)."""
        return {t.name: t.title or t.name for t in self.topics}


# --- the file format (pydantic) ----------------------------------------------------------------


def _to_str(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_to_str)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TermSpec(_Strict):
    term: Text
    weight: float = Field(default=1.0, gt=0, le=100)


TermEntry = Union[Text, TermSpec]
TermList = Annotated[list[TermEntry], Field(min_length=1)]


class NearSpec(_Strict):
    within: int = Field(ge=1, le=500)
    one_of: TermList
    and_one_of: TermList


class TopicSpec(_Strict):
    title: str = Field(default="", max_length=80)
    description: str = ""
    urgent: bool = False
    min_score: float = Field(default=1.0, ge=0)
    any: TermList | None = None
    all: Annotated[list[TermList], Field(min_length=1)] | None = None
    near: Annotated[list[NearSpec], Field(min_length=1)] | None = None
    not_: TermList | None = Field(default=None, alias="not")
    not_needs: int = Field(default=1, ge=1)
    urgent_rank: int = Field(default=50, ge=0, le=1000)

    @model_validator(mode="after")
    def _something_to_find(self) -> "TopicSpec":
        if not (self.any or self.all or self.near):
            raise ValueError("a topic needs at least one of any:, all: or near:")
        return self


class WeightsSpec(_Strict):
    title: float = Field(default=3.0, ge=0)
    lead: float = Field(default=2.0, ge=0)
    body: float = Field(default=1.0, ge=0)
    end: float = Field(default=0.5, ge=0)


class SettingsSpec(_Strict):
    lead_words: int = Field(default=60, ge=0)
    end_fraction: float = Field(default=0.2, ge=0, le=0.9)
    snippet_chars: int = Field(default=300, ge=40, le=5000)
    near_bonus: float = Field(default=1.0, ge=0)
    weights: WeightsSpec = WeightsSpec()
    extra_endings: list[Text] = []
    safety_net: bool = True
    safety_net_max: int = Field(default=15, ge=1, le=500)
    safety_net_terms: TermList | None = None


class SenseSpec(_Strict):
    description: str = ""
    terms: TermList
    near: TermList | None = None
    within: int = Field(default=10, ge=1, le=200)
    followed_by: Union[Literal["capitalised", "capitalized"], TermList, None] = None
    preceded_by: Union[Literal["capitalised", "capitalized"], TermList, None] = None
    unless_preceded_by: TermList | None = None
    unless_near: TermList | None = None
    unless_followed_by: TermList | None = None

    @model_validator(mode="after")
    def _some_context(self) -> "SenseSpec":
        if not (self.near or self.followed_by or self.preceded_by):
            raise ValueError("a sense needs near:, followed_by: or preceded_by: to tell when it applies")
        return self


class KeywordsFile(_Strict):
    settings: SettingsSpec = SettingsSpec()
    aliases: dict[str, TermList] = {}
    senses: dict[str, SenseSpec] = {}
    topics: Annotated[dict[str, TopicSpec], Field(min_length=1)]


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


class _Compiler:
    def __init__(self, spec: KeywordsFile, data: dict, file: str, line_of: LineOf):
        self.spec, self.data, self.file, self.line_of = spec, data, file, line_of
        self.problems: list[Problem] = []
        self.aliases: dict[str, tuple[Term, ...]] = {}
        self.expanding: list[str] = []

    def problem(self, where: tuple, message: str) -> None:
        self.problems.append(Problem(self.file, self.line_of(where), f"{'.'.join(map(str, where))}: {message}"))

    def alias(self, name: str, where: tuple) -> tuple[Term, ...]:
        if name in self.aliases:
            return self.aliases[name]
        if name not in self.spec.aliases:
            known = ", ".join(sorted(self.spec.aliases)) or "none defined"
            self.problem(where, f"unknown alias @{name} (aliases: {known})")
            return ()
        if name in self.expanding:
            self.problem(where, f"alias @{name} uses itself (via {' → '.join(self.expanding)})")
            return ()
        self.expanding.append(name)
        terms = self.terms(self.spec.aliases[name], ("aliases", name))
        terms = tuple(t if t.concept else replace(t, concept=name) for t in terms)
        self.expanding.pop()
        self.aliases[name] = terms
        return terms

    def terms(self, entries: list, where: tuple) -> tuple[Term, ...]:
        out: dict[tuple, Term] = {}
        for i, entry in enumerate(entries):
            text, weight = (entry.term, entry.weight) if isinstance(entry, TermSpec) else (entry, 1.0)
            if text.strip().startswith("@"):
                for t in self.alias(text.strip()[1:].strip(), where + (i,)):
                    t = t.reweighted(weight)
                    out.setdefault((t.kind, t.key), t)
                continue
            try:
                t = compile_term(text, weight)
            except ValueError as exc:
                self.problem(where + (i,), str(exc))
                continue
            out.setdefault((t.kind, t.key), t)
        return tuple(out.values())

    def topic(self, name: str, spec: TopicSpec) -> Topic:
        at = ("topics", name)
        groups = tuple(self.terms(g, at + ("all", i)) for i, g in enumerate(spec.all or []))
        nears = tuple(
            Near(n.within, self.terms(n.one_of, at + ("near", i, "one_of")),
                 self.terms(n.and_one_of, at + ("near", i, "and_one_of")))
            for i, n in enumerate(spec.near or [])
        )
        return Topic(name, spec.description, spec.urgent, spec.min_score, self.terms(spec.any or [], at + ("any",)),
                     groups, nears, self.terms(spec.not_ or [], at + ("not",)), spec.not_needs, spec.urgent_rank,
                     spec.title.strip())

    def sense(self, name: str, spec: SenseSpec) -> Sense:
        at = ("senses", name)
        opt = lambda key: self.terms(getattr(spec, key) or [], at + (key,))  # noqa: E731
        caps = isinstance(spec.followed_by, str)
        followed = () if caps or not spec.followed_by else self.terms(spec.followed_by, at + ("followed_by",))
        caps_before = isinstance(spec.preceded_by, str)
        before = () if caps_before or not spec.preceded_by else self.terms(spec.preceded_by, at + ("preceded_by",))
        return Sense(name, spec.description, opt("terms"), opt("near"), spec.within, followed, caps,
                     before, opt("unless_near"), opt("unless_followed_by"), caps_before, opt("unless_preceded_by"))

    def safety_terms(self) -> tuple[Term, ...]:
        s = self.spec.settings
        if s.safety_net_terms:
            return self.terms(s.safety_net_terms, ("settings", "safety_net_terms"))
        return self.aliases.get("places", ()) if "places" in self.spec.aliases else ()


def parse_rules(data: Any, file: str = "keywords.yaml", line_of: LineOf = lambda _: None) -> RuleSet:
    """Validate and compile already-parsed YAML data; raise ConfigError listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, line_of(()), "expected a mapping with a top-level 'topics:' section")])
    try:
        spec = KeywordsFile.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, file, line_of)
        raise ConfigError(problems + _second_wave(data, exc, file, line_of)) from None
    comp = _Compiler(spec, data, file, line_of)
    for name in spec.aliases:
        comp.alias(name, ("aliases", name))
    topics = tuple(comp.topic(name, t) for name, t in spec.topics.items())
    senses = tuple(comp.sense(name, t) for name, t in spec.senses.items())
    safety = comp.safety_terms()
    endings = set(DEFAULT_ENDINGS)
    for i, e in enumerate(spec.settings.extra_endings):
        words = fold_words(e)
        if len(words) != 1:
            comp.problem(("settings", "extra_endings", i), f"{e!r}: an ending is a few letters, one word")
        else:
            endings.add(words[0])
    morph.flush()
    if comp.problems:
        raise ConfigError(comp.problems)
    s = spec.settings
    return RuleSet(topics, frozenset(endings), s.lead_words, s.end_fraction, s.snippet_chars, s.near_bonus,
                   Weights(**s.weights.model_dump()), file, senses, s.safety_net and bool(safety),
                   s.safety_net_max, safety, {"tg": morph.TAJIK_ENDINGS, "fa": morph.PERSIAN_ENDINGS})


def _second_wave(data: dict, exc: ValidationError, file: str, line_of: LineOf) -> list[Problem]:
    """The mistakes the compiler would find (unknown @alias, bad regex …) in the topics and aliases that did
    validate, so one `check-config` lists them all instead of in two rounds. Broken entries are set aside (an
    alias set aside stays known, so that using it is not reported as a second mistake)."""
    broken = {(e["loc"][0], e["loc"][1]) for e in exc.errors() if len(e["loc"]) > 1 and e["loc"][0] in ("topics", "aliases")}
    if any(len(e["loc"]) < 2 or e["loc"][0] not in ("topics", "aliases") for e in exc.errors()):
        return []  # the file's shape itself is wrong: nothing more to say reliably
    trimmed = dict(data)
    for section in ("topics", "aliases"):
        if isinstance(data.get(section), dict):
            trimmed[section] = {k: (["placeholder"] if section == "aliases" else v) if (section, k) in broken else v
                                for k, v in data[section].items() if section == "aliases" or (section, k) not in broken}
    if not trimmed.get("topics"):
        return []
    try:
        parse_rules(trimmed, file, line_of)
    except ConfigError as more:
        return more.problems
    return []


def load_rules(path: str | Path) -> RuleSet:
    """Read keywords.yaml; raise ConfigError with every mistake as file:line: message."""
    tabs: list[Problem] = []  # a tab is reported with the file's other mistakes, not instead of them
    try:
        data, line_of = load_yaml(path, collect=tabs)
        rules = parse_rules(data, str(path), line_of)
    except ConfigError as exc:
        raise ConfigError(tabs + exc.problems) from None
    if tabs:
        raise ConfigError(tabs)
    return rules
