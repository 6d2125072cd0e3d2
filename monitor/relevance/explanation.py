"""`monitor explain`'s account of one analysis: terms per zone, senses chosen, each topic's conditions, urgency."""

from __future__ import annotations

from typing import TYPE_CHECKING

from datetime import datetime

if TYPE_CHECKING:
    from monitor.relevance.document import Analysis, Pass


def format_analysis(matcher: "Pass", an: "Analysis", published: datetime | None = None) -> str:
    """Plain text: every matched term with its zone, then per topic what held, what vetoed and the score."""
    doc, lines = an.doc, []
    w = matcher.rules.weights
    lines.append(f"zones: title {doc.title_words} words, lead {matcher.rules.lead_words} words (x{w.lead:g}), "
                 f"end zone from word {doc.end_start} (x{w.end:g}); title x{w.title:g}, body x{w.body:g}")
    lines.append("")
    lines.append("terms found:" if an.occurrences else "terms found: none")
    for o in an.occurrences:
        term = matcher.terms[o.term]
        lines.append(f"  {doc.text[o.start:o.end]!r:32} {o.zone:5}  word {o.first:<6} term {term.text!r}")
    if an.senses:
        lines += ["", "senses (these names do not count for any topic):"]
        for call in an.senses:
            o = call.occurrence
            lines.append(f"  {doc.text[o.start:o.end]!r:32} word {o.first:<6} read as {call.sense}: {call.why}")
    verdict = []
    for rep in an.reports:
        t = rep.topic
        mark = "FIRED" if rep.fired else ("VETOED" if rep.vetoed_by else "no")
        lines += ["", f"topic {t.name}: {mark}{'  [urgent]' if t.urgent and rep.fired else ''} — {rep.reason}"]
        if t.any:
            lines.append(f"  any:  {'ok' if rep.any_ok else 'MISSING'}")
        for i, ok in enumerate(rep.groups_ok):
            lines.append(f"  all group {i + 1}: {'ok' if ok else 'MISSING'}")
        for i, pair in enumerate(rep.near_pairs):
            if pair:
                a, b = pair
                gap = max(b.first - a.last, a.first - b.last, 0)
                lines.append(f"  near {i + 1}: {doc.text[a.start:a.end]!r} and {doc.text[b.start:b.end]!r}, "
                             f"{gap} words apart (≤ {t.near[i].within})")
            else:
                lines.append(f"  near {i + 1}: no pair within {t.near[i].within} words")
        if rep.vetoed_by:
            lines.append(f"  not:  vetoed by {', '.join(rep.vetoed_by)}")
        lines.append(f"  score {rep.score:g} (min_score {t.min_score:g})")
        urgent_now = None
        if rep.fired and t.urgent:
            from monitor.relevance.current import urgent_evidence

            urgent_now = urgent_evidence(matcher, an, rep, published)
            lines.append(f"  urgent (rank {t.urgent_rank}): " + (f"yes, the current event: «{urgent_now}»"
                         if urgent_now else "no — its evidence is only in background sentences (an earlier "
                         "year, \"years ago\"), not in the title, the lead or a sentence with the article's date"))
        if rep.fired:
            verdict.append(t.name + (" (urgent)" if urgent_now else ""))
    if not verdict and matcher.rules.safety_net and an.mentions:
        lines += ["", f"safety net: names GBAO ({', '.join(repr(doc.text[o.start:o.end]) for o in an.mentions[:5])})"
                  " but no topic fired: it would be listed under \"Other mentions of GBAO\""]
    lines += ["", "verdict: " + ("MATCHED — " + ", ".join(verdict) if verdict else "not matched")]
    return "\n".join(lines)
