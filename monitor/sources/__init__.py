"""Stage 1, sources: bytes from the wild, made into feed entries.

`fetch.py` is the one HTTP client of a run (async httpx: limits, spacing, Retry-After, back-off, deadline, size
cap, conditional GET, redirects followed by hand); `exchange.py` what a fetch returns (`Hop`, `Response`,
`FetchError`); `politeness.py` the per-host gate; `netguard.py` the SSRF guard inside the connection layer;
`robots.py` robots.txt per origin. Source kinds: `feeds.py` (RSS, Atom, JSON Feed → `FeedEntry`), `sites.py`
(listing pages, feed discovery), `sitemaps.py`, `telegram.py` (a public channel's preview); `crawl.py` is the
one interface over every kind that is not a plain feed (`entries_for`, `archive`). Helpers: `charset.py`
(which charset bytes really use), `dates.py` (dates in ru/tg/fa, the Solar Hijri calendar). `probe.py`:
`check-config --probe`.

Takes: `FeedSpec`s and settings. Returns: `Response`s and `FeedEntry`s (models.py).
May import: `config`, `store` (robots.txt copies, a source's last poll).
"""
