"""Full-text search with the matcher's folding and the rules' aliases, and the incremental index behind it.

A query is folded by `rules.fold`, the very function the matcher folds articles with, so «Хоруг» finds
«Хоруғ» and «ХОРОГ» finds «Хорог». A query word that is a spelling of an `aliases:` entry of keywords.yaml
("Khorugh", «Хороге») stands for every spelling of that alias, in every script, as the rules see it; a word
in double quotes is searched as written (folded, no alias, no endings); `@name` stands for every term of
the alias `name`, whatever it is. Other words of 3+ letters also find
their inflected forms (a prefix search), which suits Russian and Tajik endings.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from monitor.stories.language import guess_language  # noqa: F401
from monitor.config.feeds import ConfigError, load_yaml
from monitor.relevance.rules import DEFAULT_ENDINGS, Term, compile_term, fold, fold_words

log = logging.getLogger("monitor.web")

# Bump when the folding or the tokenising of the index changes: the index is then rebuilt.
INDEX_VERSION = "3"
BATCH_DOCS = 200  # documents per write transaction: a poll waits at most for one batch

_QUERY_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')
ZWNJ = "\u200c"


@dataclass(frozen=True)
class Alias:
    name: str
    terms: tuple[Term, ...]
    nested: bool = False  # another alias includes it ("@khorog" in places): a synonym set, not a mixed list

    @property
    def spellings(self) -> bool:
        """A list of one name's spellings (Khorog, Хорог*, خاروغ), not a vocabulary (arrest, detained ...).

        Only spelling lists expand a query word by themselves, and they are told apart by their capitals:
        names are written with one, vocabulary without. `@rights` in a query expands any alias on purpose.
        """
        cased = [t.text for t in self.terms if t.kind != "regex" and t.text[:1].lower() != t.text[:1].upper()]
        return bool(cased) and sum(t[:1].isupper() for t in cased) >= 0.4 * len(cased)


@dataclass
class Query:
    """A parsed query: the FTS5 expressions of what a story must have (`fts`) and of what leaves it out
    (`exclude`), and what each word was expanded to (shown to the user)."""

    text: str
    fts: str | None
    exclude: str | None = None
    expansions: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (word, alias, spellings)
    skipped_regexes: int = 0
    lowercase_operators: list[str] = field(default_factory=list)  # "or" between words: searched as a word


def load_aliases(path: str | Path) -> list[Alias]:
    """The `aliases:` of keywords.yaml, each resolved to its terms (nested @aliases included).

    Errors are not raised here: the matcher's loader reports them; a broken entry is just left out.
    """
    try:
        data, _ = load_yaml(path)
    except (ConfigError, OSError):
        return []
    raw = (data or {}).get("aliases") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        return []

    def resolve(name: str, seen: tuple[str, ...]) -> list[Term]:
        out: list[Term] = []
        for entry in raw.get(name) or []:
            text = entry.get("term") if isinstance(entry, dict) else entry
            if not isinstance(text, (str, int, float)):
                continue
            text = str(text).strip()
            if text.startswith("@"):
                inner = text[1:].strip()
                if inner in raw and inner not in seen:
                    out += resolve(inner, seen + (inner,))
                continue
            try:
                out.append(compile_term(text))
            except ValueError:
                continue
        return out

    nested = {str(e).strip()[1:].strip() for entries in raw.values() for e in (entries or [])
              if isinstance(e, str) and e.strip().startswith("@")}
    return [Alias(str(name), tuple(dict.fromkeys(resolve(str(name), (str(name),)))), str(name) in nested)
            for name in raw]


def _quote(words: str) -> str:
    return '"' + words.replace('"', '""') + '"'


def _term_fts(term: Term) -> str | None:
    if term.kind == "regex":
        return None
    return _quote(term.key) + ("*" if term.kind == "prefix" else "")


def _spells(term: Term, word: str, endings: frozenset[str]) -> bool:
    """Would the matcher find this term in the (folded) word or phrase?"""
    if term.kind == "word":
        return term.key == word
    if term.kind == "prefix":
        return word == term.key or (word.startswith(term.key) and word[len(term.key):] in endings)
    return False


def build_query(text: str, aliases: list[Alias], endings: frozenset[str] = DEFAULT_ENDINGS) -> Query:
    """The user's words → one FTS5 expression over the folded index: every word must occur (`AND` says so
    too), `A OR B` takes either, `"a phrase"` those words in a row, `-word`, `NOT word` (or `-"a phrase"`)
    leaves out the stories that have it. Operators are capitals: a lowercase `or` is a word, as in web search
    engines, noted in `lowercase_operators` so a search that finds nothing can say so."""
    query = Query(text, None)
    groups: list[list[str]] = []  # every group must match; within one, any of its items
    negatives: list[str] = []
    either = negated = False
    for m in _QUERY_TOKEN.finditer(text or ""):
        minus, quoted, plain = bool(m.group(1) or (m.group(3) or "").startswith("-")), m.group(2), m.group(3)
        if plain in ("OR", "AND", "NOT"):
            either, negated = plain == "OR" and bool(groups), plain == "NOT"
            continue
        if plain is not None and plain.casefold() in ("or", "and", "not") and (groups or negatives):
            query.lowercase_operators.append(plain)
        if plain is not None and plain.startswith("-"):
            plain = plain[1:]
        expr = _item(query, quoted, plain, aliases, endings)
        if expr is None:
            continue
        if minus or negated:
            negatives.append(expr)
        elif either:
            groups[-1].append(expr)
        else:
            groups.append([expr])
        either = negated = False
    query.fts = " AND ".join(g[0] if len(g) == 1 else "(" + " OR ".join(g) + ")" for g in groups) or None
    query.exclude = " OR ".join(negatives) or None  # a story with any of them is left out, whatever else it has
    return query


def _forms(word: str) -> list[str]:
    """Every form the matcher knows of one word (задержать → задержаны, задержанных …), folded."""
    from monitor.relevance import morph

    try:
        return [_quote(f) for f in morph.expand(word, "word").exact]
    except Exception:  # a word the dictionaries cannot read: it is still searched as typed
        return []


def _item(query: Query, quoted: str | None, plain: str | None, aliases: list[Alias],
          endings: frozenset[str]) -> str | None:
    """One word, phrase or @alias of a query as an FTS5 expression (None when it has no letters or digits)."""
    words = fold_words(quoted if quoted is not None else plain or "")
    if not words:
        return None
    spellings = _spellings(quoted if quoted is not None else plain or "")
    if quoted is not None:
        return _either([_quote(s) for s in spellings])
    assert plain is not None
    if plain.startswith("@"):
        named = [a for a in aliases if a.name.casefold() == plain[1:].casefold()]
        if named:
            alias = named[0]
            options = list(dict.fromkeys(s for s in (_term_fts(t) for t in alias.terms) if s))
            query.expansions.append((plain, alias.name, [t.text for t in alias.terms if t.kind != "regex"]))
            return "(" + " OR ".join(options) + ")"
    options = [_quote(s) + ("*" if len(s.rsplit(" ", 1)[-1]) >= 3 else "") for s in spellings]
    if len(words) == 1:
        options += _forms(plain)
    # The narrowest alias that spells the word: "Khorugh" is in @khorog and in @places (which includes
    # @khorog, @rushan ...); it stands for Khorog, not for every place.
    found = [a for a in aliases if a.spellings and any(_spells(t, k, endings) for t in a.terms for k in spellings)]
    # a synonym set that other aliases build on (@khorog inside @places) beats an alias that merely
    # lists the name among others for a sense's context
    found = [a for a in found if a.nested] or found
    narrowest = min((len(a.terms) for a in found), default=0)
    for alias in (a for a in found if len(a.terms) == narrowest):
        options += [s for s in (_term_fts(t) for t in alias.terms) if s]
        query.skipped_regexes += sum(t.kind == "regex" for t in alias.terms)
        query.expansions.append((plain, alias.name, [t.text for t in alias.terms if t.kind != "regex"]))
    return _either(options)


def _either(options: list[str]) -> str:
    options = list(dict.fromkeys(options))
    return options[0] if len(options) == 1 else "(" + " OR ".join(options) + ")"


def _spellings(typed: str) -> list[str]:
    """The folded word(s) as typed, and without their ZWNJs: `index_text` holds a text both ways, so
    بازداشتها and بازداشت‌ها each find both spellings."""
    return list(dict.fromkeys(" ".join(fold_words(t)) for t in (typed, typed.replace(ZWNJ, ""))))


def index_text(text: str) -> str:
    """A title or text as the index holds it: folded (a ZWNJ becomes a space, as the matcher reads it) and,
    when it writes a ZWNJ, folded once more without them. Persian writes an affix or a compound's parts
    joined or after a ZWNJ (بازداشت‌ها, بازداشتها; می‌دانند, میدانند) and readers type either."""
    folded = fold(text)
    return f"{folded}\n{fold(text.replace(ZWNJ, ''))}" if ZWNJ in text else folded


# --- languages --------------------------------------------------------------------------------

# guess_language lives in stories/language.py (delivery routes by it too); re-exported here.


# --- the index --------------------------------------------------------------------------------


class SearchIndex:
    """Keeps the FTS5 index of one state up to date, from the web process's own connection.

    `catch_up` folds new documents outside any transaction and writes them in short batches; only one
    thread of the process indexes at a time (the others search what is there already).
    """

    def __init__(self, feed_languages: dict[str, str] | None = None):
        self.feed_languages = {k: v for k, v in (feed_languages or {}).items() if v}
        self.lock = threading.Lock()
        self.available = True
        self.readonly_reason: str | None = None

    def prepare(self, store) -> None:
        """Create the tables; rebuild when the folding changed since the index was made."""
        import sqlite3

        try:
            if not store.search_ensure():
                self.available = False
                log.warning("this SQLite has no FTS5: full-text search is off (filters still work)")
                return
            if store.search_version() != INDEX_VERSION:
                store.search_reset()
                store.set_search_version(INDEX_VERSION)
        except sqlite3.OperationalError as exc:  # a read-only state file: search what is indexed
            self.readonly_reason = str(exc)
            log.warning("cannot write the search index (%s): search covers what is indexed already", exc)

    def catch_up(self, store, budget_s: float = 0.5, busy_ms: int = 10_000, wait_s: float = 0.0) -> int | None:
        """Index what is new, for at most about `budget_s` seconds; returns the documents indexed, or None
        when another thread was indexing (so nothing can be said about what is left).

        `busy_ms`: how long to wait for the write lock when the poller holds it (a page view: briefly);
        `wait_s`: how long to wait for another thread's batch to finish (a search then sees its stories).
        """
        import sqlite3

        if self.readonly_reason:
            return 0
        if not (self.lock.acquire(timeout=wait_s) if wait_s else self.lock.acquire(blocking=False)):
            return None
        done = 0
        try:
            started = time.monotonic()
            while time.monotonic() - started < budget_s:
                batch = store.search_unindexed(BATCH_DOCS)
                if not len(batch):
                    break
                folded = [(index_text(row["title"] or ""), index_text(row["text"] or "")) if self.available
                          else ("", "") for row in list(batch.stories) + list(batch.sources)]
                languages = [self.feed_languages.get(r["source"]) or guess_language(f"{r['title']}\n{r['text']}")
                             for r in batch.stories]
                try:
                    store.search_add(batch, folded, languages, busy_ms=busy_ms, fts=self.available)
                except sqlite3.OperationalError as exc:
                    if "readonly" in str(exc) or "read-only" in str(exc):
                        self.readonly_reason = str(exc)
                    if "locked" not in str(exc):
                        log.warning("search index not updated this time: %s", exc)
                    break
                done += len(batch)
        finally:
            self.lock.release()
        return done
