"""The web interface over the monitor's own state: stories, search, triage, feeds, trends; and the weekly report.

Nothing here is imported by the poller: `monitor serve` and `monitor report` load it (and Starlette, Jinja2,
uvicorn, Pillow) lazily, so `run --once` pays nothing for it. `results.py` hands a list (a search with its
filters) out as CSV, JSON Lines or an Atom feed.

May import: `config`, `store`, `relevance`, `stories`, `evidence`, `delivery`, `review`.
"""
