"""Telegram via the Bot API's sendMessage with parse_mode=HTML: plain httpx, no bot framework.

Only the tags Telegram allows are produced (<b> <i> <u> <a href> ...); every web string is escaped.
A digest is split on story boundaries into chunks whose *raw HTML* fits the limit, counted in UTF-16
code units: that bounds the visible text Telegram counts, whichever way it counts, and never cuts a tag.
The token is part of every request URL, so it is redacted from our errors and from httpx's log lines.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable

import httpx

from monitor.models import Digest, DigestStory
from monitor.delivery.notifier import (PartlyDelivered, PermanentError, Secret, TransientError, also_reported, channel_label, fmt_time, matched, one_line,
                   safe_url, segments, summary_line)
from monitor.delivery.notifier import MENTIONS_HEADING, MENTIONS_NOTE, RECHECK_MARK

LIMIT = 4096
_PART_RESERVE = 16  # room for the " [12/12]" part label added after splitting
_TOKEN_IN_URL = re.compile(r"/bot[^/\s]+/")


def _e(text: str) -> str:
    """Telegram knows only &lt; &gt; &amp; &quot; (and numeric entities): escape exactly those."""
    return html.escape(text, quote=False)


def _attr(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "&quot;")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _link(url: str, label: str) -> str:
    href = safe_url(url)
    if href is None or len(href) > 2000:
        return _e(label)
    return f'<a href="{_attr(href)}">{_e(label)}</a>'


def _story(story: DigestStory, compact: bool = False, zone: str = "UTC", page: str = "") -> str:
    """Title link, source and date; unless compact, the snippet with the matched terms in bold."""
    title = one_line(story.title, 300) or "(no title)"
    lines = [f"• {_link(story.url, title)}",
             f"<i>{_e(one_line(story.source, 80))} · {_e(fmt_time(story.published, zone))} · "
             + (_link(page, f"story {story.story_id}") if page else f"story {story.story_id}")
             + (f" · {RECHECK_MARK}" if story.found_on_recheck else "") + "</i>"]
    if story.incident:  # delivery/incidents.py: the record of the incident this entry stands for
        lines.append(f"<b>{_e(one_line(story.incident, 400))}</b>")
    if not compact:
        if matched(story):
            lines.append(f"<i>Matched: {_e(', '.join(matched(story)))}</i>")
        if story.snippet:
            text = "".join(f"<b>{_e(p)}</b>" if hit else _e(p) for p, hit in segments(story.snippet, story.highlights))
            lines.append(one_line(text))
        if story.also_reported_by:
            links = ", ".join(_link(url, one_line(src, 80)) + (f" — “{_e(one_line(t, 200))}”" if t else "")
                              for src, url, t in also_reported(story)[:10])
            lines.append(f"Also reported by: {links}")
    return "\n".join(lines)


def _header(digest: Digest) -> str:
    line = _e(summary_line(digest))
    if digest.kind == "urgent":
        return f"🚨 <b>URGENT</b> — {line}" + _urgent_reason(digest)
    if digest.kind == "health":
        return f"<b>Pamir monitor: feed health</b> — {line}"
    if digest.kind == "test":
        return f"<b>Pamir monitor test</b> — {line}\nThe channel works; no stories are included."
    label = "Backfill" if digest.kind == "backfill" else "Digest"
    head = f"<b>Pamir monitor {label}</b> — {line}\n<i>{_e(fmt_time(digest.created_at, digest.timezone))}</i>"
    if digest.urgent_sent:
        head += "\n\n🚨 <i>Urgent alerts sent since the last digest:</i>\n" + "\n".join(
            f"- story {s.story_id}: {_e(one_line(s.title, 150))}" for s in digest.urgent_sent[:20])
    return head


def _urgent_reason(digest: Digest) -> str:
    """An alert names the urgent topic and quotes the sentence that made it urgent."""
    story = digest.stories[0] if digest.stories else None
    if story is None or not story.urgent_topic:
        return ""
    quote = f"\n«{_e(one_line(story.urgent_sentence, 400))}»" if story.urgent_sentence else ""
    return f"\nUrgent topic: <b>{_e(one_line(digest.title_of(story.urgent_topic), 80))}</b>{quote}"


def _mentions_blocks(digest: Digest) -> list[str]:
    """The safety net, last: one short block per unmatched article that names GBAO."""
    if not digest.mentions:
        return []
    out = [f"<i>{_e(MENTIONS_NOTE)}</i>"]
    out += [f"• {_link(m.url, one_line(m.title, 300) or '(no title)')}\n"
            f"<i>{_e(one_line(m.source, 80))} · {_e(fmt_time(m.published, digest.timezone))}</i>\n{_e(one_line(m.line, 300))}"
            for m in digest.mentions]
    if digest.more_mentions:
        out.append(f"… and {digest.more_mentions} more")
    return out


def _halves(text: str) -> list[str]:
    """Two pieces of a message, cut at the line break nearest the middle (or a space, or anywhere): each
    line's markup stays whole where the message has line breaks."""
    middle = len(text) // 2
    for sep in ("\n", " "):
        before, after = text.rfind(sep, 0, middle + 1), text.find(sep, middle)
        cuts = [c for c in (before, after) if 0 < c < len(text) - 1]
        if cuts:
            cut = min(cuts, key=lambda c: abs(c - middle))
            return [text[:cut], text[cut + 1:]] if sep == "\n" else [text[:cut], text[cut:]]
    return [text[:middle], text[middle:]]


def render_chunks(digest: Digest, limit: int = LIMIT) -> list[str]:
    """The digest as HTML messages of at most `limit` UTF-16 units each, split between stories."""
    blocks: list[tuple[str | None, str, DigestStory | None]] = []
    compact = digest.kind == "backfill"  # hundreds of old stories: titles only, or the chat drowns
    for topic, stories in digest.by_topic():
        blocks.extend((one_line(topic, 80), _story(s, compact, digest.timezone, digest.story_page(s.story_id)), s) for s in stories)
    if digest.updates:
        for s in digest.updates:
            links = ", ".join(_link(url, one_line(src, 80)) for src, url in s.also_reported_by[:10])
            blocks.append(("Also reported by", f"• {_link(s.url, one_line(s.title, 300) or '(no title)')}"
                           + (f" — now also: {links}" if links else ""), None))
    for c in digest.changes:  # evidence/recheck.py; the story page shows every version side by side
        page = digest.story_page(c.story_id)
        blocks.append(("Pages changed since capture", f"• {_link(c.url, one_line(c.title, 300) or '(no title)')}"
                       f" — {_e(one_line(c.source, 80))}: <b>{_e(one_line(c.note, 200))}</b>"
                       + (f" · {_link(page, f'story {c.story_id}')}" if page else ""), None))
    blocks.extend((MENTIONS_HEADING, block, None) for block in _mentions_blocks(digest))
    if digest.failing_feeds:
        lines = ["<i>Feeds failing for a long time (check them):</i>"]
        lines += [f"- {_e(one_line(f.name, 80))}: since {_e(fmt_time(f.since, digest.timezone))}: {_e(one_line(f.error, 200))}"
                  for f in digest.failing_feeds[:20]]
        blocks.append((None, "\n".join(lines), None))
    if digest.recovered:
        blocks.append((None, "<i>Feeds working again:</i>\n" + "\n".join(f"- {_e(one_line(n, 80))}"
                                                                          for n in digest.recovered[:20]), None))

    budget = limit - _PART_RESERVE
    cont = f"<i>(continued) {_e(summary_line(digest))}</i>"
    chunks: list[str] = []
    current, current_topic = _header(digest), None
    for topic, block, story in blocks:
        heading = f"<b>{_e(topic)}</b>\n" if topic and topic != current_topic else ""
        candidate = f"{current}\n\n{heading}{block}"
        if utf16_len(candidate) <= budget:
            current, current_topic = candidate, topic
            continue
        chunks.append(current)
        heading = f"<b>{_e(topic)}</b>\n" if topic else ""
        current = f"{cont}\n\n{heading}{block}"
        if utf16_len(current) > budget and story is not None:
            current = f"{cont}\n\n{heading}{_story(story, compact=True)}"
        if utf16_len(current) > budget:  # only absurd input gets here: keep the text, drop the markup
            plain = one_line(html.unescape(re.sub(r"<[^>]+>", "", block)))
            current = _e(plain[: max(0, budget // 2)])
        current_topic = topic
    chunks.append(current)
    if len(chunks) > 1:
        chunks = [f"{c}\n<i>[{i}/{len(chunks)}]</i>" for i, c in enumerate(chunks, 1)]
    return chunks


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs ~40 ms, a client per message would pay it every time."""
    return httpx.create_ssl_context()


class _RedactTokens(logging.Filter):
    """httpx logs every request URL at INFO, and a Bot API URL carries the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg, record.args = _TOKEN_IN_URL.sub("/bot********/", message), None
        return True


_FILTER = _RedactTokens()
for _name in ("httpx", "httpcore"):
    if _FILTER not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_FILTER)


class TelegramNotifier:
    """One chat: a channel of its own in the outbox, so one bad chat id never blocks another."""

    def __init__(
        self,
        token: Secret,
        chat_id: str,
        api_base: str = "https://api.telegram.org",
        *,
        min_interval: float = 1.0,
        timeout: float = 30.0,
        limit: int = LIMIT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.token, self.chat_id, self.api_base = token, chat_id, api_base.rstrip("/")
        self.channel = f"telegram:{chat_id}"
        self.min_interval, self.timeout, self.limit = min_interval, timeout, limit
        self._sleep, self._clock = sleep, clock
        self._next_ok = 0.0

    def __repr__(self) -> str:
        return f"TelegramNotifier(chat {self.chat_id} via {self.api_base})"

    def describe(self) -> str:
        return f"Telegram chat {self.chat_id} via {self.api_base} (token set)"

    def render(self, digest: Digest) -> list[str]:
        return render_chunks(digest, self.limit)

    async def send(self, message: str) -> None:
        """Send one stored message; a 400 never drops any of it. "Message is too long" (Telegram may count
        differently from us) splits it again; "can't parse entities" sends it as plain text. When a piece fails
        after others were accepted, whatever the error, the rest is kept for the retry (PartlyDelivered): refused
        again on its own, it fails for good there, visible in `monitor status` — never counted as sent."""
        pieces: list[tuple[str, bool]] = [(message, True)]  # (text, is HTML)
        accepted = 0
        while pieces:
            text, markup = pieces[0]
            try:
                await self._post({"text": text, "parse_mode": "HTML"} if markup else {"text": text})
            except (PermanentError, TransientError) as exc:
                reason = exc.reason.lower()
                if isinstance(exc, PermanentError) and "too long" in reason and len(text) > 1:
                    pieces[0:1] = [(half, markup) for half in _halves(text)]
                    continue
                if isinstance(exc, PermanentError) and markup and ("parse" in reason or "entit" in reason):
                    # Our markup was refused: better an alert without bold than no alert at all.
                    logging.getLogger("monitor.deliver").warning("%s: markup refused (%s); sending as plain text",
                                                                 channel_label(self.channel), exc.reason)
                    pieces[0:1] = [(html.unescape(re.sub(r"<[^>]+>", "", text)), False)]
                    continue
                if accepted:  # the accepted pieces must not go out again: keep the rest, as HTML
                    rest = "\n".join(t if m else _e(t) for t, m in pieces)
                    raise PartlyDelivered(f"{exc.reason} (after {accepted} piece(s) were accepted)", rest=rest,
                                          hold=True) from None
                raise
            pieces.pop(0)
            accepted += 1

    async def _post(self, fields: dict) -> None:
        wait = self._next_ok - self._clock()
        if wait > 0:
            await self._sleep(wait)
        payload = {"chat_id": self.chat_id, "link_preview_options": {"is_disabled": True}, **fields}
        url = f"{self.api_base}/bot{self.token.reveal()}/sendMessage"
        where = f"Telegram API ({channel_label(self.channel)})"  # errors reach journald: no chat id, no host
        try:
            async with httpx.AsyncClient(timeout=self.timeout, verify=_tls_context()) as client:
                response = await client.post(url, json=payload)
        except httpx.TimeoutException:
            raise TransientError(f"{where} did not answer within {self.timeout:g} s", quick_retry=False) from None
        except httpx.HTTPError as exc:
            raise TransientError(self.token.redact(f"{where} unreachable: {type(exc).__name__}: {exc}")) from None
        finally:
            self._next_ok = self._clock() + self.min_interval
        self._check(response, where)

    def _check(self, response: httpx.Response, where: str) -> None:
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError):
            body = None
        status = response.status_code
        if isinstance(body, dict) and status == 200 and body.get("ok"):
            return
        if not isinstance(body, dict):  # a proxy's or load balancer's error page: say so, never quote it
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            body = {"description": f"{response.reason_phrase}, not a Bot API answer ({kind})"}
        description = self.token.redact(one_line(str(body.get("description") or response.reason_phrase), 300))
        params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        if status == 429:
            retry_after = params.get("retry_after")
            retry = float(retry_after) if isinstance(retry_after, (int, float)) else None
            raise TransientError(f"{where} rate limit: {description}", retry_after=retry)
        if status >= 500 or status == 200:
            raise TransientError(f"{where} answered {status}: {description}")
        if status in (401, 404):
            raise TransientError(f"{where} rejected the bot token ({status} {description}): check MONITOR_TELEGRAM_TOKEN")
        if status == 403:  # bot removed from the chat or blocked: fixable without changing the chat id
            raise TransientError(f"{where} refused ({description}): is the bot still a member of the chat?")
        if "migrate_to_chat_id" in params:
            raise PermanentError(
                f"{where}: the group became a supergroup; set MONITOR_TELEGRAM_CHAT_ID to {params['migrate_to_chat_id']}"
            )
        raise PermanentError(f"{where} refused the message ({status}): {description}")
