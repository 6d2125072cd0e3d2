"""keywords.yaml as written → a compiled RuleSet (rules.py).

The file is written by non-programmers, so its schema is strict and every mistake is reported at once with its
line: pydantic's findings first, then what the compiler finds in the topics that did validate (an unknown
`@alias`, a bad regex), in the same pass.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from monitor.config.feeds import ConfigError, LineOf, Problem, load_yaml, validation_problems
from monitor.relevance import morph
from monitor.relevance.morph.fold import fold_words
from monitor.relevance.rules import (DEFAULT_ENDINGS, Near, RuleSet, Sense, Term, Topic, Weights, compile_term)


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
                   s.safety_net_max, safety, {"tg": morph.TAJIK_ENDINGS, "fa": morph.PERSIAN_ENDINGS},
                   dict(comp.aliases))



def _second_wave(data: dict, exc: ValidationError, file: str, line_of: LineOf) -> list[Problem]:
    """The mistakes the compiler would find (unknown @alias, bad regex …) in what did validate, so one
    `check-config` lists them all instead of in two rounds. A topic's broken fields are set aside (a bad
    `min_score` does not hide the same topic's unknown @alias); a topic left with nothing to find, and a broken
    alias, too (an alias set aside stays known, so that using it is not reported as a second mistake)."""
    if any(not e["loc"] or e["loc"][0] in ("topics", "aliases") and len(e["loc"]) < 2 for e in exc.errors()):
        return []  # the file's shape itself is wrong: nothing more to say reliably
    trimmed = _without_other_mistakes(data, exc)
    if isinstance(data.get("aliases"), dict):
        broken = {e["loc"][1] for e in exc.errors() if e["loc"][0] == "aliases"}
        trimmed["aliases"] = {k: ["placeholder"] if k in broken else v for k, v in data["aliases"].items()}
    if isinstance(data.get("topics"), dict):
        errors = [e["loc"][1:] for e in exc.errors() if e["loc"][0] == "topics"]
        trimmed["topics"] = _valid_topics(data["topics"], errors)
    if not trimmed.get("topics"):
        return []
    try:
        parse_rules(trimmed, file, line_of)
    except ConfigError as more:
        return more.problems
    return []


def _valid_topics(topics: dict, errors: list[tuple]) -> dict:
    """The topics without their broken fields (each takes its default), and without a topic that is broken as a
    whole or has nothing left to find."""
    fields: dict[str, set] = {}
    for loc in errors:
        fields.setdefault(loc[0], set()).add(loc[1] if len(loc) > 1 else None)
    out = {}
    for name, topic in topics.items():
        bad = fields.get(name, set())
        if not bad:
            out[name] = topic
        elif None not in bad and isinstance(topic, dict):
            kept = {k: v for k, v in topic.items() if k not in bad}
            if any(kept.get(k) for k in ("any", "all", "near")):
                out[name] = kept
    return out


def _without_other_mistakes(data: dict, exc: ValidationError) -> dict:
    """The data with each broken entry outside topics and aliases (a bad setting, a bad sense) left out, so it
    takes its default and does not hide the mistakes in the rules (reported already by the first wave)."""
    trimmed = dict(data)
    bad: dict[str, set] = {}
    for err in exc.errors():
        loc = err["loc"]
        if loc[0] not in ("topics", "aliases"):
            bad.setdefault(loc[0], set()).add(loc[1] if len(loc) > 1 else None)
    for name, keys in bad.items():
        section = trimmed.get(name)
        if None in keys or not isinstance(section, (dict, list)):
            trimmed.pop(name, None)
        elif isinstance(section, dict):
            trimmed[name] = {k: v for k, v in section.items() if k not in keys}
        else:
            trimmed[name] = [v for i, v in enumerate(section) if i not in keys]
    return trimmed


def load_rules(path: str | Path) -> RuleSet:
    """Read keywords.yaml; raise ConfigError with every mistake as file:line: message."""
    early: list[Problem] = []  # tabs and duplicate keys: reported with the file's other mistakes, not instead of them
    try:
        data, line_of = load_yaml(path, collect=early)
        rules = parse_rules(data, str(path), line_of)
    except ConfigError as exc:
        raise ConfigError(early + exc.problems) from None
    if early:
        raise ConfigError(early)
    return rules
