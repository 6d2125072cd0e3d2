"""`monitor eval --incidents DIR`: how well reports are grouped into incidents, and each field read, on a
labelled folder.

The folder holds one UTF-8 text file per report (`*.txt`): header lines `# key: value`, a blank line, then the
article's text. Keys: `incident` (required: reports with the same value are one incident), `published`
(required, ISO 8601), `title`, `lang`, `outlet`, `url`, and `expect`: `field=value; field=value` for the fields
to score (`act`, `date`, `date_precision`, `place`, `district`, `victims` as names separated by `,`,
`killed`, `wounded`, `detained`, `sentence_years` (`life` for life), `perpetrators` separated by `,`). A field
given with no value must be empty; a field not given is not scored.

Grouping is scored over pairs of reports: precision = pairs put together that belong together / pairs put
together; recall = pairs put together that belong together / pairs that belong together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path

from monitor.config.problems import ConfigError, Problem
from monitor.models import LIFE_SENTENCE, DraftRecord
from monitor.relevance.persons import person_key, same_person
from monitor.stories.incidents import Grouper, MemoryIncidents

FIELDS = ("act", "date", "date_precision", "place", "district", "victims", "killed", "wounded", "detained",
          "sentence_years", "perpetrators")


@dataclass
class Sample:
    path: Path
    incident: str
    published: datetime
    title: str = ""
    text: str = ""
    lang: str = ""
    outlet: str = ""
    url: str = ""
    expect: dict[str, str] = field(default_factory=dict)


def load_folder(folder: str | Path) -> list[Sample]:
    """Every labelled report of a folder, sorted by publication; ConfigError lists each bad file:line."""
    problems: list[Problem] = []
    samples: list[Sample] = []
    files = sorted(Path(folder).glob("*.txt"))
    if not files:
        raise ConfigError([Problem(str(folder), None, "no labelled reports (*.txt) in this folder")])
    for path in files:
        head: dict[str, tuple[str, int]] = {}
        lines = path.read_text(encoding="utf-8").splitlines()
        body_at = len(lines)
        for n, line in enumerate(lines, 1):
            if not line.startswith("#"):
                body_at = n - 1
                break
            key, sep, value = line[1:].partition(":")
            if not sep:
                problems.append(Problem(str(path), n, "expected '# key: value'"))
            head[key.strip().lower()] = (value.strip(), n)
        try:
            published = datetime.fromisoformat(head["published"][0].replace("Z", "+00:00"))
        except KeyError:
            problems.append(Problem(str(path), 1, "missing '# published: <ISO date>'"))
            continue
        except ValueError:
            problems.append(Problem(str(path), head["published"][1], f"bad date {head['published'][0]!r}"))
            continue
        if "incident" not in head:
            problems.append(Problem(str(path), 1, "missing '# incident: <label>'"))
            continue
        expect: dict[str, str] = {}
        if "expect" in head:
            for part in filter(None, (p.strip() for p in head["expect"][0].split(";"))):
                name, _, value = part.partition("=")
                if name.strip() not in FIELDS:
                    problems.append(Problem(str(path), head["expect"][1], f"unknown field {name.strip()!r} "
                                                                         f"(fields: {', '.join(FIELDS)})"))
                expect[name.strip()] = value.strip()
        get = lambda k: head.get(k, ("", 0))[0]  # noqa: E731
        samples.append(Sample(path, get("incident"), published.astimezone(timezone.utc), get("title"),
                              "\n".join(lines[body_at:]).strip(), get("lang"), get("outlet"), get("url"), expect))
    if problems:
        raise ConfigError(problems)
    return sorted(samples, key=lambda s: (s.published, s.path.name))


def field_ok(record: DraftRecord, name: str, want: str) -> bool:
    """Whether the record's field says what the label says."""
    got = getattr(record, name)
    if name == "victims":
        wanted = [person_key(n) for n in want.split(",") if n.strip()]
        keys = [v.key for v in got]
        return len(wanted) == len(keys) and all(any(same_person(w, k) for k in keys) for w in wanted)
    if name == "perpetrators":
        return set(got) == {p.strip() for p in want.split(",") if p.strip()}
    if name in ("killed", "wounded", "detained", "sentence_years"):
        if not want:
            return got is None
        value = LIFE_SENTENCE if want == "life" else float(want)
        return got is not None and float(got) == value
    return (got or "") == want


@dataclass
class Scores:
    reports: int
    incidents: int
    precision: float | None
    recall: float | None
    fields: dict[str, tuple[int, int]]  # field → (right, scored)
    mistakes: list[str]


def evaluate(samples: list[Sample], reader) -> Scores:
    """Read every report, group them in publication order, and score both against the labels."""
    memory = MemoryIncidents()
    grouper = Grouper(memory)
    assigned: list[int] = []
    fields: dict[str, list[int]] = {f: [0, 0] for f in FIELDS}
    mistakes: list[str] = []
    for i, s in enumerate(samples):
        record = reader.read(s.title, s.text, s.published, s.lang)
        assigned.append(grouper.assign(i + 1, record, s.published, s.published))
        for name, want in s.expect.items():
            ok = field_ok(record, name, want)
            fields[name][0] += ok
            fields[name][1] += 1
            if not ok:
                mistakes.append(f"{s.path.name}: {name} is {_shown(getattr(record, name))}, labelled {want or '(empty)'}")
    together = same = both = 0
    for (a, sa), (b, sb) in combinations(list(zip(assigned, samples)), 2):
        grouped, labelled = a == b, sa.incident == sb.incident
        together += grouped
        same += labelled
        both += grouped and labelled
        if grouped != labelled:
            what = "grouped together but labelled apart" if grouped else "labelled one incident but kept apart"
            mistakes.append(f"{sa.path.name} + {sb.path.name}: {what}")
    return Scores(len(samples), len(set(assigned)), both / together if together else None,
                  both / same if same else None, {f: (r, n) for f, (r, n) in fields.items() if n}, mistakes)


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(getattr(v, "name", str(v)) for v in value) or "(empty)"
    return "(empty)" if value in (None, "") else str(value)


def format_scores(scores: Scores, folder: str) -> str:
    fmt = lambda x: "—" if x is None else f"{x:.2f}"  # noqa: E731
    lines = [f"{folder}: {scores.reports} report(s) grouped into {scores.incidents} incident(s)",
             f"grouping: precision {fmt(scores.precision)}, recall {fmt(scores.recall)} (pairs of reports)",
             "fields:"]
    lines += [f"  {name:<15} {right}/{n}  {right / n:.2f}" for name, (right, n) in scores.fields.items()]
    if scores.mistakes:
        lines += ["mistakes:"] + [f"  {m}" for m in scores.mistakes]
    return "\n".join(lines)
