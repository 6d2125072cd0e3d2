"""Stage 4, stories: many articles, one story.

`urlkeys.py`: the URL keys and GUIDs that make one page's many addresses one item (the seen list);
`neardup.py`: MinHash + LSH over word shingles folds republications into the first story; `export.py`: a
story as a record (`export` as JSON Lines or CSV, and the stories of a WACZ package); `incidents.py`: reports of
one event across outlets and languages grouped into one incident (`compatible`, `Grouper`, `IncidentDesk`);
`incident_export.py`: incidents as records (`monitor incidents`, one line per record); `incident_eval.py`:
`monitor eval --incidents DIR` on a labelled folder; `incident_review.py`: a researcher confirms,
corrects, merges and splits incidents (the web page and `monitor incidents confirm|…`); `language.py`: a story's
language from its script (the web filters and per-recipient routing).

Takes: matched articles. Returns: the story an article belongs to (new, or a further source of one).
May import: `config`, `store`, `relevance`.
"""
