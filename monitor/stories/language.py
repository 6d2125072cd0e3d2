"""A story's language read from its script, for the web filters and per-recipient routing."""

from __future__ import annotations

import re

_TAJIK = re.compile("[ӣӯҳқғҷҲҚҒҶӢӮ]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_LATIN = re.compile(r"[A-Za-z]")


def guess_language(text: str) -> str:
    """en, ru, tg or fa from the script: enough to filter a four-language archive.

    Tajik is Cyrillic with its own letters (ӣ ӯ ҳ қ ғ ҷ), a few in every sentence; Russian has none. A feed's
    `language:` in feeds.yaml, when given, wins over this guess. The first 4,000 characters are enough.
    """
    sample = text[:4000]
    cyr, arab, lat = (len(p.findall(sample)) for p in (_CYRILLIC, _ARABIC, _LATIN))
    if max(cyr, arab, lat) == 0:
        return "und"
    if arab >= cyr and arab >= lat:
        return "fa"
    if cyr >= lat:
        return "tg" if len(_TAJIK.findall(sample)) * 200 >= cyr else "ru"
    return "en"
