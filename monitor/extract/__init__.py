"""Stage 2, extract: an article page → its main text.

`text.py`: trafilatura in a forkserver process pool started on the first article page, one page per worker,
a deadline per page; the prefilter (relevance/prefilter.py, handed in) skips pages on which no topic can fire.
`article.py`: a fetched page read into an Article (`read_page`: the main text, or the feed's summary standing
in), what the matcher reads (the page text, and the feed's summary when the page lacks it), and the article of
a source that carried its whole text (no page, no extraction).

Takes: decoded HTML (sources/charset.py decodes it). Returns: `Extracted` (title, text, date) or None.
May import: `sources` (charset only).
"""
