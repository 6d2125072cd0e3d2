"""First-level dedup: one key per article URL, so variants of one link are one story and fetched once.

courlan does the standard normalisation (lower-case host, default ports, sorted query, utm_*); on top of it
the key drops what outlets vary between copies of the same page: the scheme, `www.`/`m.`/`amp.` hosts,
AMP paths and flags, click-tracking parameters, fragments and trailing slashes.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from monitor.models import FeedEntry

_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|yclid|msclkid|mc_cid|mc_eid|igshid|_ga|_gl|ref|ref_src|"
    r"cmpid|ito|ncid|amp|outputType|output_type|s_cid|at_medium|at_campaign)$",
    re.IGNORECASE,
)
_HOST_PREFIX = re.compile(r"^(?:www\d?|m|mobile|amp)\.")
_AMP_PATH = re.compile(r"(?:/amp)+(?=/|$)|\.amp(?=$)", re.IGNORECASE)


def url_key(url: str) -> str:
    """A stable key for "the same page": http://m.site.org/amp/a/?utm_source=x == https://site.org/a"""
    import courlan  # here, not at the top: a cycle in which every feed answers 304 never needs it (~30 ms)

    try:
        normal = courlan.normalize_url(url.strip(), trailing_slash=False)
    except Exception:  # courlan raises on some malformed input; the raw URL is still a key
        normal = url.strip()
    parts = urlsplit(normal)
    host = _HOST_PREFIX.sub("", (parts.hostname or "").lower().rstrip("."))
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    path = _AMP_PATH.sub("", parts.path).rstrip("/") or "/"
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING.match(k)))
    return f"{host}{port}{path}" + (f"?{query}" if query else "")


def canonical_url(url: str) -> str:
    """The link a reader is shown and cites: tracking parameters (utm_*, fbclid …) and the fragment dropped,
    everything else as the outlet wrote it (unlike `url_key`, this stays a working address)."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _TRACKING.match(k)]
    query = parts.query if len(kept) == len(pairs) else urlencode(kept)
    return parts._replace(query=query, fragment="").geturl()


def guid_key(entry: FeedEntry) -> str | None:
    """GUIDs that are URLs are compared as URL keys (feeds flip http/https in them); others per feed."""
    if not entry.guid:
        return None
    if entry.guid.startswith(("http://", "https://")):
        return "url:" + url_key(entry.guid)
    return f"{entry.feed}:{entry.guid}"
