"""Search on PostgreSQL: the web interface's FTS5 expressions as tsquery, and the folded text as index words.

The index holds the matcher's own folded text (`rules.fold`, done by the web process), cut into words the
way FTS5's unicode61 tokenizer cuts them (runs of letters and digits), so Хорог, Khorugh and خاروغ find each
other exactly as on SQLite. The 'simple' configuration only lowercases: no stemming, no stop words (the
query builder expands endings itself, with prefix searches).
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\W_]+")
_TOKEN = re.compile(r'"((?:[^"]|"")*)"(\*?)|(\()|(\))|\b(OR|AND|NOT)\b')


def index_words(folded: str) -> str:
    """Folded text → the words FTS5 would index, separated by single spaces."""
    return _SEPARATORS.sub(" ", folded).strip()


def _lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def fts5_to_tsquery(expr: str) -> str:
    """An expression of web/search.py's `build_query` ("a b"*, OR, AND, parentheses) → to_tsquery text."""
    out: list[str] = []
    for m in _TOKEN.finditer(expr):
        phrase, star, opened, closed, op = m.groups()
        if phrase is not None:
            words = index_words(phrase.replace('""', '"')).split()
            if not words:
                out.append("''")  # matches nothing, keeps the expression well formed
                continue
            lexemes = [_lexeme(w) for w in words]
            if star:
                lexemes[-1] += ":*"
            out.append(lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")")
        elif opened:
            out.append("(")
        elif closed:
            out.append(")")
        else:
            out.append({"OR": "|", "AND": "&", "NOT": "& !"}[op])
    return " ".join(out)
