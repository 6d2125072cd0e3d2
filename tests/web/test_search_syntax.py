"""Search as a researcher types it: OR between words, "phrases", -exclusion, and the words expanded with the
matcher's own morphology (задержать finds задержаны; памирский finds памирских)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.store import Store
from tests.support.webarchive import NOW, build_archive
from tests.web.test_web import browse, config, found

PAMIRI = ("Суд в Душанбе над активистами", "Суд вынес приговоры пятерым памирских активистов, задержанных летом.")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("search-syntax") / "monitor.db"
    ids = build_archive(path)
    store = Store(path)
    url = "https://asiaplus.example/sud"
    item = store.record_item(feed="Asia Plus", guid=None, url=url, url_key=url[8:], status="matched")
    title, text = PAMIRI
    article = Article(FeedEntry("Asia Plus", url, title=title, published=NOW), url, title, f"{title}\n\n{text}",
                      NOW, NOW, "")
    ids["Asia Plus"] = store.add_story(item, article, MatchResult(hits=(TopicHit("gbao_rights", 3.0, ("суд",)),),
                                                                  snippet=text))
    store.close()
    return path, ids


def _search(state, *queries: str) -> list[set[int]]:
    pages = browse(config(state), *(lambda c, q=q: c.get("/", params={"q": q}) for q in queries))
    assert all(p.status_code == 200 for p in pages)
    return [set(found(p.text)) for p in pages]


def test_or_phrases_and_exclusion(archive):
    state, ids = archive
    either, phrase, without = _search(state, "sentenced OR задержали", '"closed trial"', "detained -Dushanbe")
    assert either == {ids["HRW"], ids["Ozodi RU"]}
    assert phrase == {ids["HRW"]}
    assert ids["Eurasianet"] in without and ids["HRW"] not in without


def test_search_words_take_every_form_the_matcher_knows(archive):
    state, ids = archive
    verb, adjective = _search(state, "задержать", "памирский")
    assert ids["Ozodi RU"] in verb and ids["Asia Plus"] in verb  # задержаны, задержали; задержанных
    assert ids["Asia Plus"] in adjective  # памирских (and, through @pamiri, Pamiri in other scripts)


def test_the_filters_show_how_many_stories_each_choice_would_leave(archive):
    state, ids = archive
    (page,) = browse(config(state), lambda c: c.get("/", params={"q": "Хорог", "language": "en"}))
    html = page.text
    # the language filter counts the search's stories per language (its own choice set aside) ...
    assert re.search(r'<option value="en" selected>English \(2\)</option>', html), html[:3000]
    assert re.search(r'<option value="ru">Russian \(1\)</option>', html)
    # ... and the other filters count within the current choice (the two English stories)
    assert re.search(r'<option value="Eurasianet">Eurasianet \(1\)</option>', html)
    assert re.search(r'<option value="Ozodi RU">Ozodi RU \(0\)</option>', html)


def test_capital_and_not_are_operators_and_a_lowercase_or_that_finds_nothing_is_explained(archive):
    state, ids = archive
    both, implicit, not_, minus = _search(state, "Rushan AND Dushanbe", "Rushan Dushanbe", "Dushanbe NOT Rushan",
                                          "Dushanbe -Rushan")
    assert ids["HRW"] in both and both == implicit  # AND is what two words mean anyway, not a word to find
    assert ids["HRW"] not in not_ and not_ == minus
    lowercase, capitals = browse(config(state), lambda c: c.get("/", params={"q": "Khorog or Хорог"}),
                                 lambda c: c.get("/", params={"q": "Khorog OR Хорог"}))
    assert found(lowercase.text) == []
    said = " ".join(re.sub(r"<[^>]+>", "", lowercase.text).split())
    assert "“or” was searched as a word: operators are written in capitals (OR, AND, NOT)." in said
    assert ids["Ozodi RU"] in found(capitals.text) and "searched as a word" not in capitals.text
