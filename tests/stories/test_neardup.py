"""Near-duplicate stories: republications fold into the first story, different reports stay apart."""

from __future__ import annotations

import random
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.stories import neardup
from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.stories.neardup import NearDupIndex, signature
from monitor.store import Store

PAIRS = Path(__file__).parent / "neardup_pairs"
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "same-event"
T0 = datetime(2024, 3, 4, 12, 0, tzinfo=timezone.utc)


def text(name: str) -> str:
    return (PAIRS / f"{name}.txt").read_text(encoding="utf-8")


def labelled_pairs() -> list[tuple[str, str, bool, str]]:
    rows = []
    for line in (PAIRS / "pairs.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            a, b, label, note = line.split("\t")
            rows.append((a, b, label == "same", note))
    return rows


def precision_recall(results: list[tuple[bool, bool]]) -> tuple[float, float, int, int, int]:
    """(precision, recall, true positives, false positives, false negatives) of "same story"."""
    tp = sum(1 for truth, said in results if truth and said)
    fp = sum(1 for truth, said in results if not truth and said)
    fn = sum(1 for truth, said in results if truth and not said)
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0), tp, fp, fn


def corpus_texts() -> dict[str, tuple[str, str]]:
    """file stem -> (group, gold text without its '#' header lines)."""
    out = {}
    for path in sorted(CORPUS.glob("*.gold.txt")):
        body = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
        out[path.name.removesuffix(".gold.txt")] = (path.name.split("__")[0], body.strip())
    return out


def republish(body: str, rng: random.Random, changed: float = 0.05) -> str:
    """A copy as another site would run it: first paragraph dropped, words changed, note and boilerplate added."""
    paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
    words = "\n\n".join(paragraphs[1:] if len(paragraphs) > 3 else paragraphs).split(" ")
    for i in rng.sample(range(len(words)), int(len(words) * changed)):
        words[i] = rng.choice(["reportedly", "said", "the", "officials", "on Monday", "local"])
    return ("Editor's note: this article first appeared elsewhere and is republished with permission.\n\n"
            + " ".join(words) + "\n\nShare this: Facebook X Email. Subscribe to our newsletter. All rights reserved.")


def article(url: str, body: str, feed: str = "ips", title: str = "A story") -> Article:
    entry = FeedEntry(feed=feed, url=url, title=title, published=T0)
    return Article(entry=entry, final_url=url, title=title, text=body, published=T0, fetched_at=T0,
                   raw_sha256="0" * 64)


MATCH = MatchResult(hits=(TopicHit("gbao", 3.0, ("khorog",)),), snippet="… Khorog …")


class Pipeline:
    """The lead's pipeline step for a matched article, as neardup.py's docstring describes it."""

    def __init__(self, store: Store):
        self.store, self.index = store, NearDupIndex(store)

    def take(self, url: str, body: str, feed: str = "ips") -> tuple[int, bool]:
        """(story id, whether it was new)."""
        item_id = self.store.record_item(feed=feed, guid=None, url=url, url_key=url, status="matched")
        art, sig = article(url, body, feed), signature(body)
        found = self.index.find(sig)
        if found is not None:
            self.store.add_story_source(found, item_id, feed, url, art.title, article=art)
            return found, False
        story_id = self.store.add_story(item_id, art, MATCH)
        self.index.add(story_id, sig)
        return story_id, True


def test_a_republished_interview_is_folded_into_the_first_story(store: Store) -> None:
    pipe = Pipeline(store)
    first, new = pipe.take("https://ipsnews.net/interview", text("en_ips_interview"), "ips")
    assert new
    for url, name, feed in [
        ("https://globalissues.org/news/interview", "en_globalissues_copy", "globalissues"),
        ("https://civicus.org/interview", "en_civicus_copy", "civicus"),
        ("https://ipsnews.net/amp/interview", "en_amp_copy", "ips-amp"),
    ]:
        assert pipe.take(url, text(name), feed) == (first, False)
    assert [r["source"] for r in store.story_sources(first)] == ["globalissues", "civicus", "ips-amp"]
    assert len(store.waiting_stories()) == 1


def test_the_same_wire_report_on_five_russian_sites_is_one_story(store: Store) -> None:
    pipe = Pipeline(store)
    ids = {pipe.take(f"https://site{n}.example/{n}", text(name), f"site{n}")[0]
           for n, name in enumerate(["ru_wire_court", "ru_copy1_court", "ru_copy2_court", "ru_copy3_court",
                                     "ru_copy4_court"])}
    assert len(ids) == 1


def test_two_reports_of_the_same_event_are_kept_apart(store: Store) -> None:
    pipe = Pipeline(store)
    names = ["en_wire_deport", "en_rights_group_deport", "en_wire_deport_followup", "ru_wire_court",
             "ru_indep_court", "ru_followup_court", "en_statement_internet", "en_news_internet",
             "ru_wire_mudslide", "ru_other_mudslide"]
    results = [pipe.take(f"https://example.org/{name}", text(name)) for name in names]
    assert all(new for _, new in results)


def test_short_summaries_are_not_folded_by_text_alone(store: Store) -> None:
    pipe = Pipeline(store)
    a, b = text("short_summary_a"), text("short_summary_b")
    assert signature(a).words < neardup.MIN_WORDS
    assert pipe.take("https://a.example/1", a)[1] and pipe.take("https://b.example/2", b)[1]


def test_typography_case_and_yo_do_not_make_copies_differ() -> None:
    a = "«Суд признал подсудимых виновными», — сказал он. Ёлки, тёплые вещи! " * 10
    b = '"суд признал подсудимых ВИНОВНЫМИ" - сказал он... елки, теплые вещи ' * 10
    assert signature(a).similarity(signature(b)) == 1.0
    assert signature(a).to_bytes() == signature(a).to_bytes()  # pure: the same text, the same signature


def test_labelled_pairs_precision_and_recall(capsys: pytest.CaptureFixture[str]) -> None:
    results, wrong = [], []
    for a, b, same, note in labelled_pairs():
        said, score = signature(text(a)).same_story(signature(text(b)))
        results.append((same, said))
        if said != same:
            wrong.append(f"{a} / {b}: J~{score:.2f} ({note})")
    p, r, tp, fp, fn = precision_recall(results)
    with capsys.disabled():
        print(f"\nlabelled pairs: {len(results)} ({tp + fn} same): precision {p:.2f} recall {r:.2f}",
              *wrong, sep="\n  ")
    assert p == 1.0 and r >= 0.95, wrong


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_different_outlets_reporting_one_event_are_different_stories(store: Store) -> None:
    texts = corpus_texts()
    pipe = Pipeline(store)
    folded = [name for name, (_, body) in texts.items() if not pipe.take(f"https://x.example/{name}", body)[1]]
    assert folded == []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")
def test_republished_copies_of_real_articles_are_folded(store: Store) -> None:
    rng = random.Random(5)
    pipe = Pipeline(store)
    firsts = {name: pipe.take(f"https://x.example/{name}", body)[0] for name, (_, body) in corpus_texts().items()}
    for name, (_, body) in corpus_texts().items():
        assert pipe.take(f"https://copy.example/{name}", republish(body, rng)) == (firsts[name], False), name


def test_a_republication_after_sending_is_an_update_not_a_new_story(store: Store) -> None:
    pipe = Pipeline(store)
    story_id, _ = pipe.take("https://ipsnews.net/interview", text("en_ips_interview"))
    pipe.take("https://globalissues.org/interview", text("en_globalissues_copy"), "globalissues")  # before sending
    digest = store.queue_digest("digest", [s.story_id for s in store.waiting_stories()], {"stdout": ["..."]})
    assert store.waiting_updates() == []  # a source seen before the story went out is not news

    assert pipe.take("https://civicus.org/interview", text("en_civicus_copy"), "civicus") == (story_id, False)
    assert store.waiting_stories() == []  # not sent again as new
    updates = store.waiting_updates()
    assert [(u.story_id, u.also_reported_by) for u in updates] == [
        (story_id, (("civicus", "https://civicus.org/interview"),))
    ]
    later = store.queue_digest("digest", [], {"stdout": ["updates"]})
    assert store.mark_updates_announced(later, updates) == 1
    assert store.waiting_updates() == []
    assert digest is not None
    assert store.also_reported_by(story_id) == (("globalissues", "https://globalissues.org/interview"),
                                                ("civicus", "https://civicus.org/interview"))


def test_the_index_persists_and_is_rebuilt_when_its_parameters_change(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    with_store = Store(path)
    story_id, _ = Pipeline(with_store).take("https://ipsnews.net/interview", text("en_ips_interview"))
    with_store.close()

    reopened = Store(path)
    assert NearDupIndex(reopened).find(signature(text("en_civicus_copy"))) == story_id
    reopened.neardup_reset("an older version")  # as if the parameters had changed since
    reopened.db.execute("DELETE FROM meta WHERE key = 'neardup_params'")
    assert NearDupIndex(reopened).find(signature(text("en_amp_copy"))) == story_id  # rebuilt from stored texts
    assert reopened.neardup_params() == neardup.PARAMS
    reopened.close()


def test_a_copy_is_folded_into_the_most_similar_earliest_story(store: Store) -> None:
    index = NearDupIndex(store)
    pipe = Pipeline(store)
    first, _ = pipe.take("https://a.example/1", text("en_wire_deport"))
    follow, new = pipe.take("https://a.example/2", text("en_wire_deport_followup"))
    assert new and follow != first
    assert index.find(signature(text("en_wire_deport_copy_note"))) == first


def test_signatures_are_the_ones_datasketch_computes_so_an_existing_index_stays_valid():
    """States written while datasketch computed the MinHash keep folding republications into their stories."""
    datasketch = pytest.importorskip("datasketch")
    rng = random.Random(7)
    for size in (0, 1, 2, 40, 900):
        grams = {f"{rng.random()} {rng.random()} {rng.random()}".encode() for _ in range(size)}
        reference = datasketch.MinHash(num_perm=neardup.NUM_PERM, seed=neardup.SEED, scheme=neardup.SCHEME)
        if grams:
            reference.update_batch(grams)
        assert reference.hashvalues.astype("<u4").tobytes() == neardup.minhash(grams).astype("<u4").tobytes()
