"""Bytes from the wild → text: which charset a feed or page really uses.

Measured failures this module exists for: a Russian, Tajik or Persian UTF-8 feed with one truncated character
was re-decoded as iso-8859-2 (every title garbled, no keyword matched); a short Tajik Windows-1251 page without
any charset came out as Hebrew (cp1255); a Latin-1 page became Baltic (cp1257). The rules, in order:

1. Text that is (almost) all valid UTF-8 *is* UTF-8, whatever it declares: a stray byte is replaced (and the
   caller logs a warning), the rest is kept. Single-byte codepages almost never form valid UTF-8 sequences.
2. A declared charset that decodes the bytes is believed, unless it is *really* wrong: Cyrillic, Arabic or
   Persian bytes read as a Latin codepage (whole words of accented letters), or KOI8-R read as Windows-1251
   (almost only capitals).
3. Otherwise guess, but only among the codepages our languages use (charset-normalizer, restricted to them).
"""

from __future__ import annotations

import logging
import re
import unicodedata

log = logging.getLogger("monitor.extract")

# The codepages of the monitor's languages (ru, tg: cp1251/koi8-r; fa: cp1256) and of Western pages.
OUR_CODEPAGES = ("cp1251", "koi8_r", "cp1256", "cp1252")
_LATIN = {"latin_1", "iso8859_1", "cp1252", "iso8859_15", "iso8859_2", "cp1250", "cp1257", "iso8859_13",
          "iso8859_4", "iso8859_9", "cp1254", "mac_roman", "ascii"}
_ALIASES = {"win-1251": "cp1251", "windows1251": "cp1251", "x-cp1251": "cp1251", "win1251": "cp1251",
            "cp-1251": "cp1251", "utf8": "utf-8", "koi8r": "koi8_r", "windows1256": "cp1256"}
_WORD = re.compile(r"[^\W\d_]{3,}")


def codec(name: str | None) -> str | None:
    """Python's canonical codec name for a declared charset, or None when it is unknown."""
    import codecs

    if not name:
        return None
    name = _ALIASES.get(name.strip().strip("\"'").lower(), name.strip().strip("\"'").lower())
    try:
        return codecs.lookup(name).name.replace("-", "_")
    except LookupError:
        return None


def utf8_errors(content: bytes) -> tuple[int, int]:
    """(valid non-ASCII UTF-8 characters, invalid bytes) in `content`, in one decoding pass."""
    text = content.decode("utf-8", "replace")
    invalid = text.count("\ufffd") - content.count(b"\xef\xbf\xbd")  # a real U+FFFD in the text is valid
    valid = len(text) - len(text.encode("ascii", "ignore")) - invalid
    return valid, invalid


def mostly_utf8(content: bytes) -> bool:
    """Non-ASCII text that is valid UTF-8 but for a few bad bytes (a truncated character, a stray 0x93)."""
    valid, invalid = utf8_errors(content)
    return invalid == 0 or (valid >= 3 and valid >= 10 * invalid)


def looks_wrong(text: str, encoding: str) -> bool:
    """Is this decoding mojibake? Latin codepages give whole words of accented letters for Cyrillic or Arabic
    bytes; Windows-1251 gives almost only capitals for KOI8-R bytes (and KOI8-R for Windows-1251)."""
    encoding = codec(encoding) or encoding
    if encoding in _LATIN:
        words = [w for w in _WORD.findall(text) if not w.isascii()]
        if len(words) < 2:
            return False
        alien = sum(1 for w in words if sum(not c.isascii() for c in w) >= len(w) - 1)
        return alien >= 0.5 * len(words)
    if encoding in ("cp1251", "koi8_r", "iso8859_5", "cp866", "mac_cyrillic"):
        letters = [c for c in text if "\u0400" <= c <= "\u04ff"]
        if len(letters) < 20:
            return False
        upper = sum(c.isupper() for c in letters)
        return upper > 0.6 * len(letters)
    return False


def decode(content: bytes, declared: list[str | None] = ()) -> tuple[str, str, str]:
    """(text, codec used, a warning or ""). `declared`: the charsets the HTTP header, the XML declaration or
    a <meta> name, most authoritative first. Never raises."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    elif content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return content.decode("utf-16", "replace"), "utf_16", ""
    names = [c for c in (codec(d) for d in declared) if c]
    if content.isascii():
        return content.decode("ascii"), "ascii", ""
    valid, invalid = utf8_errors(content)
    if invalid == 0 or (valid >= 3 and valid >= 10 * invalid):
        warning = ""
        if invalid:
            warning = (f"{invalid} invalid UTF-8 byte sequence(s) among {valid} valid characters: "
                       "decoded as UTF-8 with replacement characters")
        elif names and names[0] not in ("utf_8", "ascii") and valid >= 3:
            warning = f"declared {names[0]} but the bytes are UTF-8: decoded as UTF-8"
        return content.decode("utf-8", "replace"), "utf_8", warning
    for name in names:
        if name in ("utf_8", "ascii"):
            continue
        try:
            text = content.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        if not looks_wrong(text, name):
            return text, name, ""
    guess = guess_codepage(content)
    text = content.decode(guess, "replace")
    warning = f"declared {names[0]} does not fit the bytes: read as {guess}" if names else ""
    return text, guess, warning


def guess_codepage(content: bytes) -> str:
    """The most plausible of OUR_CODEPAGES (never Hebrew, Greek or Baltic for a page in our languages)."""
    from charset_normalizer import from_bytes  # a dependency of trafilatura

    sample = content[:200_000]
    best = from_bytes(sample, cp_isolation=list(OUR_CODEPAGES)).best()
    name = codec(best.encoding) if best is not None else None
    if name not in OUR_CODEPAGES:
        name = "cp1252"
    if name in ("cp1251", "koi8_r"):  # the case test tells the two Cyrillic codepages apart more surely
        other = "koi8_r" if name == "cp1251" else "cp1251"
        if looks_wrong(sample.decode(name, "replace"), name) and not looks_wrong(sample.decode(other, "replace"), other):
            name = other
        if _mixed_words(sample.decode(name, "replace")):  # "Mьller": a few Latin-1 letters, not Cyrillic
            name = "cp1252"
    return name


_CYRILLIC_WORD = re.compile(r"[^\W\d_]*[\u0400-\u04ff][^\W\d_]*")


def _mixed_words(text: str) -> bool:
    """Do most words with a Cyrillic letter also hold Latin letters? Real Cyrillic text does not mix scripts
    inside words; Latin-1 accents read as Windows-1251 do ("Mьller", "cafй")."""
    words = _CYRILLIC_WORD.findall(text)
    mixed = sum(1 for w in words if any("a" <= c.lower() <= "z" for c in w))
    return bool(words) and mixed > len(words) / 2


def is_garbled(text: str) -> bool:
    """Text a decoder got wrong: replacement characters or control characters in quantity."""
    if not text:
        return False
    bad = sum(1 for c in text if c == "\ufffd" or (unicodedata.category(c) == "Cc" and c not in "\n\r\t"))
    return bad > max(3, len(text) // 50)


_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.IGNORECASE)



_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{2,40})", re.IGNORECASE)



def decode_html(content: bytes, content_type: str | None = None, *, where: str = "") -> str:
    """Decode a page: almost-valid UTF-8 is UTF-8, else the HTTP charset, then <meta charset> (unless the
    bytes prove it wrong), else a guess among our languages' codepages (monitor.sources.charset).

    Russian and Tajik sites still serve Windows-1251 and KOI8-R; a wrong guess would make every Cyrillic
    keyword miss, so a declared charset wins over statistics unless the text it gives is plainly mojibake.
    """

    declared: list[str | None] = []
    if content_type and (m := _HEADER_CHARSET.search(content_type)):
        declared.append(m.group(1))
    if m := _META_CHARSET.search(content[:4096]):
        declared.append(m.group(1).decode("ascii", "ignore"))
    text, _codec, warning = decode(content, declared)
    if warning:
        log.warning("%s%s", f"{where}: " if where else "", warning)
    return text
