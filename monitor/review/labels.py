"""`monitor label` and `monitor labels`: readers' verdicts into the state, and out as a labelled folder.

A story id labels what a digest showed. A URL or a file labels a miss found elsewhere: a URL the monitor has
seen is taken from the archive or the kept texts, anything else is fetched and extracted the way `monitor
explain` does it (the same guarded fetch, the same extraction), and its text is kept with the label, so the
rules can be scored on it after the page is gone. `labels export DIR` writes one text file per label in the
format `monitor eval DIR` reads (`# label:` / `# lang:` headers, `TITLE:`, the text; see monitor/evaluate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.stories.urlkeys import url_key
from monitor.relevance.samples import Sample, normalise_label
from monitor.store import Label, Store
from monitor.store.common import MAX_ID

_TAJIK = set("ӣӯҳқғҷ")


def guess_language(text: str) -> str:
    """en / ru / tg / fa from the script (and Tajik's own letters): enough to group `eval` by language."""
    letters = [c for c in text.casefold() if c.isalpha()][:5000]
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in letters)
    arabic = sum("\u0600" <= c <= "\u06ff" or "\ufb50" <= c <= "\ufdff" for c in letters)
    latin = len(letters) - cyrillic - arabic
    if arabic > max(cyrillic, latin):
        return "fa"
    if cyrillic > latin:
        return "tg" if sum(c in _TAJIK for c in letters) >= max(2, cyrillic // 200) else "ru"
    return "en"


@dataclass(frozen=True)
class Labelled:
    """What `monitor label` did, for its one-line answer."""

    label_id: int
    story_id: int | None
    title: str
    text: str
    origin: str  # story N, kept text, fetched URL, file


async def label_target(store: Store, target: str, label: str, *, note: str | None = None,
                       language: str | None = None) -> Labelled:
    """Label a story id, a URL or a file; ValueError (a user's mistake) or FetchError/OSError (the page)."""
    if target.isascii() and target.isdigit():
        story_id = int(target)
        if story_id > MAX_ID:  # more than the state can hold: a typo, said as for any unknown id
            raise ValueError(f"no story {target} in the state")
        label_id = store.add_label(story_id=story_id, label=label, note=note, language=language)
        row = store.story(story_id)
        return Labelled(label_id, story_id, row["title"], row["text"], f"story {story_id}")
    is_url = target.startswith(("http://", "https://"))
    if is_url:
        key = url_key(target)
        story_id = store.story_id_for_url(target, key)
        if story_id is not None:  # a story the monitor has: the label goes on it
            return await label_target(store, str(story_id), label, note=note, language=language)
        kept = store.kept_text_for(key)
        if kept is not None and kept.extracted and kept.text.strip():  # a page text, not just a summary
            return _keep(store, label, note, language, target, kept.title, kept.text, "kept text (not fetched again)")
    elif not Path(target).is_file():
        raise ValueError(f"{target}: not a story id, a URL (http:// or https://) or a readable file")
    from monitor.relevance.explain import load_article

    title, text, origin, _published = await load_article(target)
    if not text.strip():
        raise ValueError(f"{target}: no text could be extracted; save the article as a .txt file "
                         "(first line TITLE: ...) and label the file")
    url = target if is_url else f"file:{Path(target).name}"  # not the full path: an export may be shared
    return _keep(store, label, note, language, url, title, text, "fetched" if is_url else "file")


def _keep(store: Store, label: str, note: str | None, language: str | None, url: str, title: str, text: str,
          origin: str) -> Labelled:
    label_id = store.add_label(story_id=None, label=label, note=note, url=url, title=title, text=text,
                               language=language or guess_language(f"{title}\n{text}"))
    return Labelled(label_id, None, title, text, origin)


# --- out of the state ----------------------------------------------------------------------------------


def _lang(label: Label) -> str:
    from monitor.config.recipients import primary

    return primary(label.language or guess_language(f"{label.title}\n{label.text}"))


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def label_samples(labels: list[Label], root: Path = Path("labels")) -> list[Sample]:
    """The state's labels as `monitor eval` samples (shown as `story N` or `label N`)."""
    return [Sample(root / (f"story {lb.story_id}" if lb.story_id is not None else f"label {lb.id}"), _lang(lb),
                   normalise_label(lb.label) or "", lb.title, lb.text) for lb in labels]


def export_labels(labels: list[Label], folder: Path) -> int:
    """One `<lang>_label<id>.txt` per label; files of an earlier export are replaced. Returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*_label[0-9][0-9][0-9][0-9][0-9].txt"):  # only our own earlier files
        old.unlink()
    for lb in labels:
        lang = _lang(lb)
        head = [f"# label: {'relevant' if lb.label == 'relevant' else 'not relevant'}", f"# lang: {lang}"]
        if lb.story_id is not None:
            head.append(f"# story: {lb.story_id}")
        if lb.url:
            head.append(f"# url: {_one_line(lb.url)}")
        if lb.note:
            head.append(f"# note: {_one_line(lb.note)}")
        if lb.topics:
            head.append(f"# matched: {', '.join(lb.topics)}")
        head.append(f"# labelled: {lb.created_at.isoformat() if lb.created_at else ''} ({lb.source})")
        body = "\n".join(head) + f"\n\nTITLE: {_one_line(lb.title)}\n\n{lb.text.strip()}\n"
        (folder / f"{lang}_label{lb.id:05d}.txt").write_text(body, encoding="utf-8")
    return len(labels)
