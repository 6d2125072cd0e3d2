"""`monitor eval`: measure keywords.yaml on labelled articles (`monitor explain` reads files the same way).

Three folder formats are read, so the same command measures our own examples and the shared corpus:
  * text files with `# label:` / `# lang:` header lines, then `TITLE: ...`, then the text (tests/relevance);
  * a folder with `labels.tsv` (file, lang, label, note) beside such files (../shared/corpus/labelled);
  * any folder of .html pages (or unlabelled .txt), with one label for the whole folder (`label=`).
Labels: `relevant...` must be matched, `distractor` / `not relevant` must not be, and `borderline` counts for
neither side (a borderline story may or may not be sent): it is listed, never scored.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from monitor.config.feeds import ConfigError
from monitor.relevance.matcher import Matcher
from monitor.relevance.rules import load_rules

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
    from monitor.extract.text import decode_html

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
        samples.append(Sample(path, lang.split("-")[0].lower(), norm, title, text))
    if unlabelled:
        raise ValueError(f"no label for {len(unlabelled)} file(s), e.g. {unlabelled[0]}; "
                         "add labels.tsv or '# label:' headers, or give one label for the folder")
    return samples


def _lang_from_name(name: str) -> str:
    head = name.split("_", 1)[0].split("-", 1)[0].lower()
    return head if len(head) == 2 and head.isalpha() else "?"


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    borderline: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass
class EvalReport:
    by_lang: dict[str, Tally] = field(default_factory=dict)
    overall: Tally = field(default_factory=Tally)
    misses: list[tuple[Sample, str]] = field(default_factory=list)
    false_alarms: list[tuple[Sample, str]] = field(default_factory=list)
    borderline: list[tuple[Sample, bool]] = field(default_factory=list)


def evaluate(samples: list[Sample], matcher: Matcher) -> EvalReport:
    """Match every sample and count hits, misses and false alarms per language."""
    rep = EvalReport()
    for s in samples:
        result = matcher.match(s.title, s.text)
        tally = rep.by_lang.setdefault(s.lang, Tally())
        why = ", ".join(f"{h.topic} {h.score:g}" for h in result.hits) or _best_reason(matcher, s)
        for t in (tally, rep.overall):
            if s.label == BORDERLINE:
                t.borderline += 1
            elif s.label == RELEVANT:
                t.tp += result.matched
                t.fn += not result.matched
            else:
                t.fp += result.matched
                t.tn += not result.matched
        if s.label == BORDERLINE:
            rep.borderline.append((s, result.matched))
        elif s.label == RELEVANT and not result.matched:
            rep.misses.append((s, why))
        elif s.label == NOT_RELEVANT and result.matched:
            rep.false_alarms.append((s, why))
    return rep


def _best_reason(matcher: Matcher, s: Sample) -> str:
    reports = matcher.analyse(s.title, s.text).reports
    best = max(reports, key=lambda r: r.score)
    return f"{best.topic.name}: {best.reason}"


def _pct(value: float | None) -> str:
    return "   —" if value is None else f"{value:.3f}"


def format_report(rep: EvalReport, folder: Path) -> str:
    lines = [f"{'lang':6} {'n':>4} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'border':>6}  precision  recall"]
    rows = sorted(rep.by_lang.items()) + [("ALL", rep.overall)]
    for lang, t in rows:
        n = t.tp + t.fp + t.fn + t.tn + t.borderline
        lines.append(f"{lang:6} {n:4} {t.tp:4} {t.fp:4} {t.fn:4} {t.tn:4} {t.borderline:6}  "
                     f"{_pct(t.precision):>9}  {_pct(t.recall):>6}")
    for title, items in (("misses (relevant, not matched)", rep.misses),
                         ("false alarms (not relevant, matched)", rep.false_alarms)):
        lines += ["", f"{title}: {len(items)}"]
        lines += [f"  {s.path.relative_to(folder)}  [{why}]" for s, why in items]
    if rep.borderline:
        lines += ["", "borderline (not scored):"]
        lines += [f"  {s.path.relative_to(folder)}  {'matched' if m else 'not matched'}" for s, m in rep.borderline]
    return "\n".join(lines)


def run_eval(folder: Path, keywords: Path, out: TextIO, label: str | None = None,
             min_precision: float | None = None, min_recall: float | None = None) -> int:
    """`monitor eval DIR`: print precision/recall per language; 0 = done (and thresholds met), 1 = below, 2 = error."""
    try:
        matcher = Matcher(load_rules(keywords))
        samples = load_samples(Path(folder), label)
    except ConfigError as exc:
        print(str(exc), file=out)
        return 2
    except (ValueError, OSError) as exc:
        print(f"{folder}: {exc}", file=out)
        return 2
    if not samples:
        print(f"{folder}: no .txt or .html articles found", file=out)
        return 2
    rep = evaluate(samples, matcher)
    print(format_report(rep, Path(folder)), file=out)
    print("\n" + rule_report(samples, matcher, Path(folder)), file=out)
    p, r = rep.overall.precision, rep.overall.recall
    if (min_precision is not None and p is not None and p < min_precision) or (
        min_recall is not None and r is not None and r < min_recall
    ):
        return 1
    return 0


def rule_report(samples: list[Sample], matcher: Matcher, root: Path) -> str:
    """Which topic and term caused each false alarm and miss (monitor/recheck/blame.py)."""
    from monitor.relevance.blame import blame, format_blame

    return format_blame(blame(samples, matcher), root)
