"""Second thoughts about the rules: re-score kept texts after a rule change, and learn from readers' labels.

`rematch.py` re-scores kept texts with the current rules (`monitor rematch`); new matches go through the same
near-duplicate step as a poll's and into the next digest, once. `labels.py` takes a reader's verdict on a
story, a URL or a file (`monitor label`) and writes the labels out as a folder `monitor eval` reads.
(Page re-checks, which fetch a kept page again, are evidence: evidence/recheck.py.)

Takes: the state's kept texts and labels, and the current rules. Returns: new stories for the next digest,
labelled folders.

May import: `config`, `store`, `sources`, `extract`, `relevance`, `stories`, and `pipeline`/`backfill` (a
rematch sends its finds the way a poll does).
"""
