"""One page, many addresses: the variants outlets and feeds use for one article are one story."""

from __future__ import annotations

import pytest

from monitor.stories.urlkeys import guid_key, url_key
from monitor.models import FeedEntry

CANONICAL = "https://news.example.org/2022/05/18/khorog-detentions"


@pytest.mark.parametrize("variant", [
    "https://news.example.org/2022/05/18/khorog-detentions?utm_source=rss&utm_medium=feed",
    "https://news.example.org/2022/05/18/khorog-detentions?fbclid=IwAR0abc",
    "https://news.example.org/2022/05/18/khorog-detentions?gclid=x&utm_campaign=y",
    "https://news.example.org/2022/05/18/khorog-detentions/amp/",
    "https://news.example.org/2022/05/18/khorog-detentions/amp",
    "https://news.example.org/amp/2022/05/18/khorog-detentions",
    "https://news.example.org/2022/05/18/khorog-detentions?amp=1",
    "https://news.example.org/2022/05/18/khorog-detentions.amp",
    "https://m.news.example.org/2022/05/18/khorog-detentions",
    "https://www.news.example.org/2022/05/18/khorog-detentions",
    "https://amp.news.example.org/2022/05/18/khorog-detentions",
    "https://news.example.org/2022/05/18/khorog-detentions/",
    "http://news.example.org/2022/05/18/khorog-detentions",
    "HTTPS://NEWS.EXAMPLE.ORG:443/2022/05/18/khorog-detentions#comments",
])
def test_a_variant_of_the_article_address_is_the_same_story(variant):
    assert url_key(variant) == url_key(CANONICAL)


@pytest.mark.parametrize("other", [
    "https://news.example.org/2022/05/18/khorog-detentions-2",
    "https://news.example.org/2022/05/19/khorog-detentions",
    "https://other.example.org/2022/05/18/khorog-detentions",
    "https://news.example.org:8443/2022/05/18/khorog-detentions",
])
def test_a_different_article_keeps_its_own_key(other):
    assert url_key(other) != url_key(CANONICAL)


def test_query_parameters_that_name_the_article_are_kept():
    assert url_key("https://asia.example/news.php?id=5&utm_source=x") != url_key("https://asia.example/news.php?id=6")
    assert url_key("https://asia.example/news.php?id=5&lang=ru") == url_key("https://asia.example/news.php?lang=ru&id=5")


def test_guids_that_are_urls_compare_as_urls_across_http_and_https():
    a = FeedEntry(feed="A", url=CANONICAL, guid="http://news.example.org/?p=1234")
    b = FeedEntry(feed="A", url=CANONICAL, guid="https://news.example.org/?p=1234")
    assert guid_key(a) == guid_key(b)


def test_opaque_guids_belong_to_their_feed():
    a = FeedEntry(feed="A", url=CANONICAL, guid="1234")
    b = FeedEntry(feed="B", url=CANONICAL, guid="1234")
    assert guid_key(a) != guid_key(b)
    assert guid_key(FeedEntry(feed="A", url=CANONICAL)) is None
