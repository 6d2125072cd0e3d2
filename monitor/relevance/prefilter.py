"""The prefilter: before extraction, is this raw page worth extracting at all? One cheap automaton pass."""

from __future__ import annotations

import html
import re

import ahocorasick

from monitor.relevance.rules import RuleSet, Term, fold


_TAGS = re.compile(r"<[^<>]*>")  # removed without a space: "Хо<b>рог</b>" must stay "Хорог"


class Prefilter:
    """Cheap and conservative, before extraction: `hit(raw)` is False only when no topic can fire on any
    text extracted from the raw page. Picklable (the groups travel, the automaton is rebuilt), so extraction
    workers run it and its cost is spread over the cores."""

    def __init__(self, topics: tuple[tuple[frozenset[tuple[str, ...]], ...], ...] | None):
        self.topics = topics  # per topic, its literal necessary groups of terms (as words); None: extract all
        self._auto: ahocorasick.Automaton | None = None

    def __getstate__(self) -> tuple:
        return (self.topics,)  # a tuple: pickle skips __setstate__ for a false state such as None

    def __setstate__(self, state: tuple) -> None:
        self.__init__(state[0])

    def hit(self, raw: str) -> bool:
        if self.topics is None:
            return True
        if self._auto is None:
            self._auto = ahocorasick.Automaton()
            for key in {word for groups in self.topics for group in groups for words in group for word in words}:
                self._auto.add_word(key, key)
            self._auto.make_automaton()
        text = fold(html.unescape(_TAGS.sub("", raw)))
        found = {key for _end, key in self._auto.iter(text)}
        return any(all(any(found.issuperset(words) for words in group) for group in groups)
                   for groups in self.topics)


def _prefilter(rules: RuleSet) -> Prefilter:
    """Every literal necessary group of every topic, each term as its words.

    A topic fires only when its `any:` list, each `all:` group and both sides of each `near:` rule find a
    term, and a term is found only where each of its words occurs; so only a page on which, for some topic,
    every group has a term whose words all occur is worth extracting. A group with a regex cannot be checked
    this way and is left out; a topic with no other group turns the prefilter off.
    """
    topics = []
    for topic in rules.topics:
        groups = ([topic.any] if topic.any else []) + list(topic.all)
        groups += [side for near in topic.near for side in (near.one_of, near.and_one_of)]
        literal = tuple(frozenset(tuple(key.split(" ")) for term in group for key in _keys(term))
                        for group in groups if group and all(term.kind != "regex" for term in group))
        if not literal:
            return Prefilter(None)
        topics.append(literal)
    if rules.safety_net:  # a page that names GBAO is read even when no topic can fire: the safety net lists it
        safety = [t for t in rules.safety_net_terms if t.kind != "regex"]
        if len(safety) < len(rules.safety_net_terms):
            return Prefilter(None)
        if safety:
            topics.append((frozenset(tuple(key.split(" ")) for term in safety for key in _keys(term)),))
    return Prefilter(tuple(topics))


def _keys(term: Term) -> tuple[str, ...]:
    return term.forms.keys() or (term.key,)
