"""Labelled articles as `monitor eval` and `monitor explain` read them.

Three folder formats are read, so the same command measures our own examples and the shared corpus:
  * text files with `# label:` / `# lang:` header lines, then `TITLE: ...`, then the text (tests/relevance/labelled);
  * a folder with `labels.tsv` (file, lang, label, note) beside such files (../shared/corpus/labelled);
  * any folder of .html pages (or unlabelled .txt), with one label for the whole folder (`label=`).
Labels: `relevant...` must be matched, `distractor` / `not relevant` must not be, and `borderline` counts for
neither side (a borderline story may or may not be sent): it is listed, never scored.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from monitor.config.recipients import primary

RELEVANT, NOT_RELEVANT, BORDERLINE = "relevant", "not_relevant", "borderline"



def normalise_label(label: str) -> str | None:
    """'relevant-official' → relevant; 'distractor', 'NOT relevant ...' → not_relevant; unknown → None."""
    text = label.strip().lower().replace("-", " ").replace("_", " ")
    if text.startswith(("not relevant", "irrelevant", "distractor", "negative", "no")):
        return NOT_RELEVANT
    if text.startswith("borderline"):
        return BORDERLINE
    if text.startswith(("relevant", "yes", "positive")):
        return RELEVANT
    return None



@dataclass(frozen=True)
class Sample:
    path: Path
    lang: str
    label: str  # RELEVANT / NOT_RELEVANT / BORDERLINE
    title: str
    text: str



def read_text_article(path: Path) -> tuple[dict[str, str], str, str]:
    """`# key: value` header lines, an optional `TITLE:` line, then the text: the one reader of labelled
    files, for `monitor eval` and `monitor explain` alike."""
    headers: dict[str, str] = {}
    title, body = "", []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        key, sep, value = lines[i].lstrip("#").partition(":")
        if sep:
            headers.setdefault(key.strip().lower(), value.strip())
        i += 1
    if i < len(lines) and lines[i].upper().startswith("TITLE:"):
        title = lines[i][6:].strip()
        i += 1
    body = lines[i:]
    return headers, title, "\n".join(body).strip()



def read_html_article(path: Path) -> tuple[str, str, str | None]:
    """Title, main text and language of an HTML page, as the pipeline's extraction would see them."""
    from monitor.sources.charset import decode_html

    return html_to_text(decode_html(path.read_bytes()))



def html_to_text(html: str) -> tuple[str, str, str | None]:
    """The pipeline's own extraction, so what `eval` and `explain` measure is what a run does."""
    from monitor.extract.text import extract_text

    doc = extract_text(html, "")
    if doc is None:
        return "", "", None
    return doc.title, doc.text, None



def load_samples(folder: Path, label: str | None = None) -> list[Sample]:
    """Every labelled article under `folder`; raise ValueError naming files whose label is unknown."""
    folder = Path(folder)
    table: dict[str, tuple[str, str]] = {}
    tsv = folder / "labels.tsv"
    if tsv.exists():
        with tsv.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                table[row["file"]] = (row.get("lang") or "?", row.get("label") or "")
    samples, unlabelled = [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".txt", ".html", ".htm")):
        if path.name.endswith(".gold.txt"):  # reference texts beside pages, not articles
            continue
        rel = str(path.relative_to(folder))
        if path.suffix.lower() == ".txt":
            headers, title, text = read_text_article(path)
            page_lang = None
        else:
            headers = {}
            title, text, page_lang = read_html_article(path)
        lang, raw = table.get(rel) or table.get(path.name) or (None, None)
        raw = raw or headers.get("label") or headers.get("relevance") or label or ""
        lang = lang or headers.get("lang") or headers.get("language") or page_lang or _lang_from_name(path.name)
        norm = normalise_label(raw)
        if norm is None:
            unlabelled.append(rel)
            continue
        samples.append(Sample(path, primary(lang), norm, title, text))
    if unlabelled:
        raise ValueError(f"no label for {len(unlabelled)} file(s), e.g. {unlabelled[0]}; "
                         "add labels.tsv or '# label:' headers, or give one label for the folder")
    return samples



def _lang_from_name(name: str) -> str:
    head = name.split("_", 1)[0].split("-", 1)[0].lower()
    return head if len(head) == 2 and head.isalpha() else "?"
