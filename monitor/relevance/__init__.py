"""Stage 3, relevance: does an article matter, to which topic, how much, and is it urgent?

`rules.py`: the compiled `RuleSet` (terms, topics, senses, endings); `keywords.py`: keywords.yaml → `RuleSet`,
every mistake with its line; `morph/`: every form of a term, at compile time (Russian, English, Tajik,
Persian; the folding text and terms share). `matcher.py`: one Aho-Corasick pass → `MatchResult`;
`document.py`: the types the after-pass steps share; `senses.py`: names read in another sense; `current.py`:
is an urgent topic about the current event; `prefilter.py`: is a raw page worth extracting. `explain.py` and
`explanation.py`: `monitor explain`; `samples.py`, `evaluate.py`, `blame.py`: `monitor eval` and its rule report.
`incident.py`: a matched report's draft incident record (act, date, place, victims, counts, perpetrators, each
with its sentence), from a second Matcher over the aliases; `incident_vocab.py` (acts ↔ aliases, the
gazetteer's canonical localities, counts), `act_dates.py` (the act's date from the publication date),
`persons.py` (names and one key per person across scripts).

Takes: a title and a text (and a publication date). Returns: `MatchResult`, `DraftRecord` (models.py).
May import: `config`, `sources` and `extract` (only `explain` and `eval`, to read a URL or an HTML file).
"""
