"""The 5,000-source web of bench_hosts.py: bench/site.py's outlets plus public Telegram channel previews, and a
log of every poll.

Run it in its own process (bench_hosts.py does); it prints one JSON line when it is listening:

    python bench/hosts_site.py --feeds 4000 --channels 1000 --items 5 --posts 20 --delay 0.2
    {"ready": true, "port": 40123, "control": "http://127.77.0.1:40123/_bench", "sources": [...]}

* Feeds and article pages are bench/site.py's (one loopback address per outlet, ETag/Last-Modified, 304s).
* Channel c is `http://<its own address>:<port>/s/chanNNNNN`: the preview page as t.me/s serves it
  (tests/support/tgpreview.py), its newest `--posts` posts. Posts of the initial site are two hours apart, the
  newest a little before the site started, so one poll reads one page, as for a channel posting a few times a
  day; posts published during the run are dated when they are published. Previews carry no validators (t.me
  sends none), so every poll downloads and parses the whole page.
* `/_bench/advance?fraction=F` publishes F of the listed items as new feed items (site.py) and F of the listed
  posts as new posts on random channels.
* `/_bench/warmup?on=1` serves without the delay and with 1-2 KB article pages until `?on=0`: the harness fills
  the state that way (every page of the first cycle), which is not what is measured.
* The poll log: every feed request and every first preview page (not a `?before=` page) is one poll of that
  source, at the time it arrived. `/_bench/polls?since=N` returns the entries from the Nth on as
  `{"next": M, "polls": [[unix_time, source], ...]}`; sources 0..feeds-1 are the feeds, then the channels.

Standard library only (and tests/support/tgpreview.py, which is too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))


def _load_site():
    """bench/site.py under another name: `site` is a standard module, already imported by the interpreter."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_site", BENCH / "site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_site"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


_site = _load_site()
DAYS, GBAO_SENTENCES, WORDS, Server, Site = _site.DAYS, _site.GBAO_SENTENCES, _site.WORDS, _site.Server, _site.Site
_html_escape, _rng, _sentence, serve = _site._html_escape, _site._rng, _site._sentence, _site.serve

from tests.support.tgpreview import Post, preview_page  # noqa: E402

POST_HOURS = 2  # hours between two posts of the initial site


class HostsSite(Site):
    def __init__(self, feeds: int, channels: int, items: int, posts: int, delay: float, seed: int,
                 match_rate: float, min_kb: int, max_kb: int):
        super().__init__(feeds, items, delay, seed, match_rate, 5, min_kb, max_kb)
        self.n_channels = channels
        self.n_posts = posts
        self.chan_head = [posts] * channels  # posts published so far, per channel
        self.started = time.time()
        self.post_times: dict[tuple[int, int], float] = {}  # posts published during the run
        self.polls: list[tuple[float, int]] = []
        self._page_cache: dict[int, tuple[int, bytes]] = {}

    def channel_url(self, c: int) -> str:
        return f"{self.base(self.n_feeds + c)}/s/chan{c:05d}"

    def post_time(self, c: int, k: int) -> float:
        if (c, k) in self.post_times:
            return self.post_times[(c, k)]
        return self.started - 600 - (c % 600) - (self.n_posts - 1 - k) * POST_HOURS * 3600

    def post_text(self, c: int, k: int) -> str:
        rng = _rng(self.seed, "post", c, k)
        text = " ".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
        if rng.random() < self.match_rate:
            text = rng.choice(GBAO_SENTENCES).format(day=rng.choice(DAYS)) + " " + text
        elif rng.random() < 0.3:
            text += f" {rng.choice(WORDS).capitalize()} news: https://example.org/{rng.getrandbits(32):x}"
        return _html_escape(text).replace(". ", ".<br/>", 1)

    def channel_page(self, c: int) -> bytes:
        cached = self._page_cache.get(c)
        if cached and cached[0] == self.chan_head[c]:
            return cached[1]
        newest = self.chan_head[c] - 1
        posts = [Post(number=k + 1, text=self.post_text(c, k),
                      when=datetime.fromtimestamp(self.post_time(c, k), timezone.utc).replace(microsecond=0))
                 for k in range(max(0, newest - self.n_posts + 1), newest + 1)]
        page = preview_page(f"chan{c:05d}", f"Channel {c}", posts).encode()
        self._page_cache[c] = (self.chan_head[c], page)
        return page

    def advance(self, fraction: float) -> dict:
        out = super().advance(fraction)
        rng = _rng(self.seed, "advance-posts", self.generation)
        new = round(self.n_channels * self.n_posts * fraction) if fraction > 0 and self.n_channels else 0
        now = time.time()
        for _ in range(new):
            c = rng.randrange(self.n_channels)
            self.post_times[(c, self.chan_head[c])] = now
            self.chan_head[c] += 1
        out["new_posts"] = new
        return out


class HostsServer(Server):
    def route(self, path: str, headers: dict[str, str], query: str = "") -> tuple[str, int, dict, bytes]:
        site: HostsSite = self.site  # type: ignore[assignment]
        parts = path.strip("/").split("/")
        arrived = time.time() - site.delay  # route runs after the response delay
        if len(parts) == 2 and parts[0] == "s" and parts[1].startswith("chan") and parts[1][4:].isdigit():
            c = int(parts[1][4:])
            if c < site.n_channels:
                if "before" not in parse_qs(query):
                    site.polls.append((arrived, site.n_feeds + c))
                return "channel", 200, {"Content-Type": "text/html; charset=utf-8"}, site.channel_page(c)
        if len(parts) == 2 and parts[0] == "feeds" and parts[1].endswith(".xml") and parts[1][:-4].isdigit():
            if int(parts[1][:-4]) < site.n_feeds:
                site.polls.append((arrived, int(parts[1][:-4])))
        return super().route(path, headers, query)

    def control(self, path: str, target: str) -> tuple[int, dict, bytes]:
        site: HostsSite = self.site  # type: ignore[assignment]
        if path == "/_bench/warmup":  # filling the state is not measured: no delay, 2 KB pages, while it lasts
            on = parse_qs(urlsplit(target).query).get("on", ["1"])[-1] == "1"
            if on and not hasattr(site, "_normal"):
                site._normal = (site.delay, site.min_kb, site.max_kb)
                site.delay, site.min_kb, site.max_kb = 0.0, 1, 2
            elif not on and hasattr(site, "_normal"):
                site.delay, site.min_kb, site.max_kb = site._normal
                del site._normal
            return 200, {"Content-Type": "application/json"}, json.dumps({"warmup": on}).encode()
        if path == "/_bench/polls":
            site: HostsSite = self.site  # type: ignore[assignment]
            since = int(parse_qs(urlsplit(target).query).get("since", ["0"])[-1])
            out = {"next": len(site.polls), "polls": site.polls[since:]}
            return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()
        return super().control(path, target)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=4000)
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--items", type=int, default=5, help="items per feed")
    ap.add_argument("--posts", type=int, default=20, help="posts per channel preview page")
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--port", type=int, default=0, help="one port for every address (0: a free one)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--match-rate", type=float, default=0.02)
    ap.add_argument("--min-kb", type=int, default=50)
    ap.add_argument("--max-kb", type=int, default=150)
    args = ap.parse_args(argv)
    if args.feeds + args.channels > 250 * 250:
        ap.error("at most 62,500 sources (one loopback address each)")
    site = HostsSite(args.feeds, args.channels, args.items, args.posts, args.delay, args.seed, args.match_rate,
                     args.min_kb, args.max_kb)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, (args.feeds + args.channels) * 2 + 4096))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    def announce(s: HostsSite) -> None:
        sources = [{"name": f"outlet-{i:05d}", "url": s.feed_url(i), "kind": "feed"} for i in range(s.n_feeds)]
        sources += [{"name": f"channel-{c:05d}", "url": s.channel_url(c), "kind": "telegram"}
                    for c in range(s.n_channels)]
        sys.stdout.write(json.dumps({"ready": True, "pid": os.getpid(), "port": s.port,
                                     "control": f"{s.base(0)}/_bench", "sources": sources}) + "\n")
        sys.stdout.flush()

    asyncio.run(serve(site, args.feeds + args.channels, args.port, announce, HostsServer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
