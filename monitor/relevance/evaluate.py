"""`monitor eval`: precision and recall of keywords.yaml on labelled articles (samples.py reads them), per
language, with the rule report of blame.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from monitor.config.feeds import ConfigError
from monitor.relevance.matcher import Matcher
from monitor.relevance.keywords import load_rules
from monitor.relevance.samples import BORDERLINE, NOT_RELEVANT, RELEVANT, Sample, load_samples


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
    from monitor.relevance.blame import blame, format_blame  # the rule report: only when asked for

    return format_blame(blame(samples, matcher), root)
