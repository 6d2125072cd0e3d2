"""The Starlette application: routes, templates, and one SQLite connection per worker thread.

Handlers are plain functions run in Starlette's thread pool; each thread opens its own connection to the
state (WAL mode: readers never block the poller, the poller never blocks readers), every read is one short
statement in autocommit mode, and the only writes are a search-index batch and a triage label.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from monitor.store import Store
from monitor.store.common import MAX_ID
from monitor.web import incidents, results, security, views
from monitor.web.search import Alias, SearchIndex

log = logging.getLogger("monitor.web")
HERE = Path(__file__).parent
MAX_FORM = 16_384
LOGIN_DELAY = 0.5  # seconds a wrong token waits
WARM_EVERY = 50.0  # seconds: the trend and counts are refreshed this often in the background
INDEX_POLL = 5.0  # seconds between looks for new stories to index


def _numbers_up_to(limit: int) -> str:
    """A regex of the whole numbers 0..limit in decimal, leading zeros allowed: fewer digits than limit, or as
    many with a smaller digit after a common start, or limit itself."""
    text = str(limit)
    shorter = [f"[0-9]{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    smaller = [f"{text[:i]}[0-{int(d) - 1}][0-9]{{{len(text) - i - 1}}}" for i, d in enumerate(text) if d != "0"]
    return "0*(?:" + "|".join(shorter + smaller + [text]) + ")"


class IdConvertor(IntegerConvertor):
    """`{name:id}`, the id of a story, capture or incident in a URL: a number the state can hold (MAX_ID). A
    larger one matches no route, so it is a 404 like any unknown address, for GET and POST alike, and never
    reaches SQLite, which cannot take it (OverflowError, a 500)."""

    regex = _numbers_up_to(MAX_ID)


register_url_convertor("id", IdConvertor())


@dataclass
class WebConfig:
    """Everything the app needs, resolved by `monitor serve` (or a test)."""

    state: str
    database_url: str | None = None  # the state in PostgreSQL (the WARC folder still beside `state`)
    rules: Any = None  # RuleSet, or None when keywords.yaml could not be read
    rules_error: str | None = None
    aliases: list[Alias] = field(default_factory=list)
    feeds: Any = None  # FeedsFile or None
    token: str | None = None
    read_only: bool = False
    loopback_only_hosts: bool = True  # no token and bound to loopback: refuse other Host names


class Context:
    """Per-process state of the app: config, connections, the search index, caches."""

    def __init__(self, config: WebConfig):
        self.config = config
        self.local = threading.local()
        self.stores: list[Store] = []
        self.lock = threading.Lock()
        languages = {f.name: f.language for f in config.feeds.feeds} if config.feeds else {}
        self.index = SearchIndex(languages)
        self.matcher = None
        if config.rules is not None:
            from monitor.relevance.matcher import Matcher

            self.matcher = Matcher(config.rules)
        self.cache: dict[str, tuple[float, Any]] = {}
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.globals["read_only"] = config.read_only
        self.titles: dict[str, str] = dict(config.rules.titles) if config.rules is not None else {}
        self.env.globals["topic_title"] = lambda topic: self.titles.get(topic) or topic  # ids stay in URLs only

    def store(self) -> Store:
        store = getattr(self.local, "store", None)
        if store is None:
            store = Store(self.config.state, database_url=self.config.database_url, read_only=self.config.read_only)
            self.local.store = store
            with self.lock:
                self.stores.append(store)
        return store

    def cached(self, key: str, ttl: float, make):
        hit = self.cache.get(key)
        if hit and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = make()
        self.cache[key] = (time.monotonic(), value)
        return value

    def render(self, request: Request, template: str, status: int = 200, **values) -> HTMLResponse:
        csrf = request.cookies.get(security.CSRF_COOKIE) or security.new_csrf()
        body = self.env.get_template(template).render(request=request, csrf=csrf, **values)
        response = HTMLResponse(body, status_code=status)
        if request.cookies.get(security.CSRF_COOKIE) != csrf:
            response.set_cookie(security.CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return response

    def close(self) -> None:
        with self.lock:
            for store in self.stores:
                try:
                    store.close()
                except Exception:  # a connection of a finished thread; nothing to save
                    pass
            self.stores.clear()


async def form(request: Request) -> dict[str, str]:
    """A small urlencoded form (no multipart: nothing here uploads files)."""
    return {k: v[0] for k, v in (await form_lists(request)).items()}


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The same, every value of a repeated field kept (the ticked checkboxes of bulk triage)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            break
    return parse_qs(body[:MAX_FORM].decode("utf-8", "replace"), keep_blank_values=True)


def create_app(config: WebConfig) -> Starlette:
    ctx = Context(config)

    def sync(handler):
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(handler, ctx, request)
        return endpoint

    async def label(request: Request) -> Response:
        data = await form(request)
        if not security.csrf_ok(request.headers.raw, data.get("csrf")):
            return PlainTextResponse("This form has expired or came from another site; reload the page and "
                                     "try again.", status_code=403)
        return await run_in_threadpool(views.label, ctx, request, data)

    def list_form(handler):
        """A POST of a form with repeated fields (ticked stories, reports), behind the same CSRF check."""
        async def post(request: Request) -> Response:
            data = await form_lists(request)
            if not security.csrf_ok(request.headers.raw, (data.get("csrf") or [None])[0]):
                return PlainTextResponse("This form has expired or came from another site; reload the page and "
                                         "try again.", status_code=403)
            return await run_in_threadpool(handler, ctx, request, data)
        return post

    bulk_label = list_form(views.bulk_label)
    incident_review = list_form(incidents.review)

    async def login(request: Request) -> Response:
        if not config.token:
            return RedirectResponse("/", status_code=303)
        if request.method == "GET":
            return await run_in_threadpool(ctx.render, request, "login.html")
        data = await form(request)
        if not security.csrf_ok(request.headers.raw, data.get("csrf")):
            return PlainTextResponse("Reload the login page and try again.", status_code=403)
        import hmac

        if not hmac.compare_digest(data.get("token", "").strip().encode(), config.token.encode()):
            await asyncio.sleep(LOGIN_DELAY)  # guessing the token costs time
            return await run_in_threadpool(lambda: ctx.render(request, "login.html", status=401,
                                                              error="That is not this monitor's token."))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(security.TOKEN_COOKIE, security.token_digest(config.token), httponly=True,
                            samesite="strict")
        return response

    routes = [
        Route("/", sync(views.home)),
        Route("/story/{story_id:id}", sync(views.story)),
        Route("/story/{story_id:id}/raw.html.gz", sync(views.raw_page)),
        Route("/story/{story_id:id}/capture/{capture_id:id}.warc.gz", sync(views.capture)),
        Route("/feeds", sync(views.feeds)),
        Route("/incidents", sync(incidents.listing)),
        Route("/incidents/{incident_id:id}", sync(incidents.page)),
        Route("/export.{fmt:str}", sync(_export)),
        Route("/feed.atom", sync(results.atom)),
        Route("/login", login, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    if not config.read_only:
        routes.append(Route("/story/{story_id:id}/label", label, methods=["POST"]))
        routes.append(Route("/label", bulk_label, methods=["POST"]))
        routes.append(Route("/incidents/{incident_id:id}/review", incident_review, methods=["POST"]))

    stop = threading.Event()

    def indexer() -> None:
        """Builds the index of a large archive in the background, then picks up new stories every few
        seconds; requests also catch up before a search, so what was stored a moment ago is found."""
        store = ctx.store()
        while not stop.is_set():
            try:
                busy = ctx.index.catch_up(store, budget_s=0.5)
                if busy == 0:  # all indexed: refresh the home page's trend and counts before a visitor needs them
                    views.warm(ctx, store, ttl=WARM_EVERY)
            except Exception:  # the state is being replaced or repaired: try again later
                log.exception("search indexing failed; trying again in a minute")
                busy = 0
                stop.wait(55)
            stop.wait(0.05 if busy is None or busy > 0 else INDEX_POLL)

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(lambda: ctx.index.prepare(ctx.store()))
        thread = threading.Thread(target=indexer, name="search-index", daemon=True)
        thread.start()
        yield
        stop.set()
        await run_in_threadpool(thread.join, 10)
        ctx.close()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: _not_found(ctx)})
    app.state.ctx = ctx
    wrapped = security.SecurityMiddleware(app, token=config.token, loopback_only_hosts=config.loopback_only_hosts)
    wrapped.ctx = ctx
    return wrapped


def _export(ctx: Context, request: Request) -> Response:
    if request.path_params["fmt"] not in ("csv", "jsonl"):
        return PlainTextResponse("exports are /export.csv and /export.jsonl", status_code=404)
    return results.export(ctx, request)


def _not_found(ctx: Context):
    async def handler(request: Request, exc: Exception) -> Response:
        return await run_in_threadpool(lambda: ctx.render(request, "error.html", status=404,
                                                          message="There is nothing at this address."))
    return handler
