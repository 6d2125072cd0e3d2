"""The web interface over the monitor's own state: stories, search, triage, feeds, trends.

Nothing here is imported by the poller: `monitor serve` loads it (and Starlette, Jinja2, uvicorn) lazily, so
`run --once` pays nothing for it. The weekly report is delivery's (delivery/weekly.py). `results.py` hands a
list (a search with its filters) out as CSV, JSON Lines or an Atom feed. `incidents.py`: the incident pages and
the researcher's review forms.

Takes: HTTP requests and the state. Returns: pages, and readers' labels and incident reviews written through the store.

May import: `config`, `store`, `relevance`, `stories`, `evidence`, `delivery`, `review`.
"""
