"""Input from the wild: how the bytes of a source are read (`charset`) and source kinds that are neither a feed
nor a crawled web site (`telegram`: a public channel's web preview). Feeds are in `parse.py`, sites and sitemaps
in `crawl.py`; `crawl.entries_for` / `crawl.archive` dispatch to the kinds here, so the pipeline sees one
interface for every kind: entries for a poll, pages of entries for a backfill.
"""
