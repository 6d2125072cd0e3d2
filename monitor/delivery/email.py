"""Email over SMTP: a multipart/alternative digest (plain text + HTML), UTF-8, everything escaped.

The full MIME message, Message-ID included, is rendered once and stored in the outbox, so a resend
after a crash carries the same Message-ID (mail clients and list tools can fold the duplicate).
The stored text is pure ASCII (RFC 2047 headers, base64 bodies): any SMTP server takes it.
smtplib runs in a worker thread; its socket timeout bounds a stalled server.
"""

from __future__ import annotations

import asyncio
import base64
import html
import ipaddress
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from monitor.models import Digest, DigestStory
from monitor.delivery.notifier import (
    KIND_LABEL, PermanentError, Secret, TransientError, also_reported, fmt_time, matched, one_line, plural, safe_url,
    segments, subject, summary_line,
)
from monitor.delivery.notifier import MENTIONS_HEADING, MENTIONS_NOTE, RECHECK_MARK
from monitor.delivery.smtp import Bounded, BoundedSSL, login, owed_to, quit_session, redact, refusals, reply_text
from monitor.delivery.text import render_text

_KIND_HEADERS: dict[str, dict[str, str]] = {
    "urgent": {"Importance": "high", "X-Priority": "1 (Highest)", "Priority": "urgent"},
    "digest": {},
    "backfill": {"Importance": "low", "X-Priority": "5 (Lowest)"},
    "test": {},
}


class SubjectHeader(str):
    """A Subject that the email policy does not fold itself: RFC 2047 encoded-words of at most 75 characters,
    each carrying its own spaces. Python's folding (3.11) put the space between two encoded-words outside
    them, where every reader drops it: "В Рушане" arrived as "ВРушане"."""

    name = "Subject"
    MAX_BYTES = 42  # UTF-8 bytes per encoded-word: 56 in base64, 68 with =?utf-8?b? ?=, "Subject: " then 77

    def fold(self, *, policy) -> str:
        if self.isascii():  # plain words are folded at spaces, which unfolding gives back
            return policy.header_factory(self.name, str(self)).fold(policy=policy)
        pieces, piece = [], ""
        for char in str(self):
            if piece and len((piece + char).encode("utf-8")) > self.MAX_BYTES:
                pieces.append(piece)
                piece = ""
            piece += char
        pieces.append(piece)
        words = [f"=?utf-8?b?{base64.b64encode(p.encode('utf-8')).decode('ascii')}?=" for p in pieces]
        return f"{self.name}: " + f"{policy.linesep} ".join(words) + policy.linesep


@dataclass
class EmailConfig:
    host: str
    port: int
    security: str  # starttls | ssl | none
    sender: str  # From header as configured, may carry a display name
    recipients: list[str]
    user: str | None = None
    password: Secret | None = field(default=None, repr=False)
    timeout: float = 60.0
    cafile: str | None = None  # a private CA for a self-hosted mail server

    @property
    def envelope_from(self) -> str:
        return parseaddr(self.sender)[1]


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailNotifier:
    """One SMTP account sending every digest to a fixed list of recipients."""

    channel = "email"

    def __init__(self, config: EmailConfig):
        self.config = config
        self._stop_by: float | None = None  # monotonic: the run is stopping, the session must end by then

    def __repr__(self) -> str:
        c = self.config
        return f"EmailNotifier({c.host}:{c.port} {c.security}, to {len(c.recipients)} recipient(s))"

    @property
    def grace(self) -> float:
        """A send runs in a thread, which a stopping run cannot cancel: it is waited for until its SMTP timeout, so
        a server that answers 250 late is recorded as sent, not sent again by the next run (outbox.grace_of)."""
        return self.config.timeout + 1

    def hurry(self, deadline: float) -> None:
        """The run is stopping and waits for the send in flight until `deadline` (monotonic). The SMTP timeout
        bounds each reply, not the session: a slow server could still answer 250 after the run gave up on it,
        and the mail would be sent again. So every later reply is awaited until just before the deadline at
        most, and the outcome is always known when the run records it."""
        self._stop_by = deadline - 1.0

    def describe(self) -> str:
        c = self.config
        auth = f", login {c.user}" if c.user else ""
        return f"email via {c.host}:{c.port} ({c.security}{auth}) from {c.envelope_from} to {', '.join(c.recipients)}"

    # --- rendering --------------------------------------------------------------------------

    def render(self, digest: Digest) -> list[str]:
        msg = EmailMessage(policy=policy.SMTP)
        msg["Subject"] = SubjectHeader(subject(digest))
        msg["From"] = self.config.sender
        # Several recipients do not see each other: one seized mailbox must not reveal the whole team.
        recipients = self.config.recipients
        msg["To"] = recipients[0] if len(recipients) == 1 else "undisclosed-recipients:;"
        msg["Date"] = format_datetime(digest.created_at)
        domain = self.config.envelope_from.rpartition("@")[2] or "pamir-monitor.invalid"
        msg["Message-ID"] = make_msgid(idstring=f"{digest.kind}", domain=domain)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Monitor-Kind"] = digest.kind
        for name, value in _KIND_HEADERS.get(digest.kind, {}).items():
            msg[name] = value
        msg.set_content(render_text(digest), charset="utf-8", cte="base64")
        msg.add_alternative(render_html(digest), subtype="html", charset="utf-8", cte="base64")
        text = msg.as_string()
        text.encode("ascii")  # guaranteed by the encodings above; fail loudly at queue time if not
        return [text]

    # --- sending ----------------------------------------------------------------------------

    async def send(self, message: str) -> None:
        await asyncio.to_thread(self._send_blocking, message)

    def _send_blocking(self, message: str) -> None:
        c = self.config
        where = f"SMTP server {c.host}:{c.port}"
        recipients, message = owed_to(message, c.recipients)
        if not recipients:  # the ones still owed it were taken off MONITOR_EMAIL_TO since (or their address fixed)
            raise PermanentError("nobody it is still owed to is in MONITOR_EMAIL_TO now; it was sent to nobody else")
        try:
            context = ssl.create_default_context(cafile=c.cafile) if c.security != "none" else None
            if c.security == "ssl":
                client: smtplib.SMTP = BoundedSSL(c.host, c.port, timeout=c.timeout, context=context)
            else:
                client = Bounded(c.host, c.port, timeout=c.timeout)
            client.stop_by = lambda: self._stop_by
            try:
                client.ehlo_or_helo_if_needed()
                if c.security == "starttls":
                    if not client.has_extn("starttls"):
                        raise TransientError(f"{where} does not offer STARTTLS; not sending in clear text")
                    client.starttls(context=context)
                    client.ehlo()
                if c.user and c.password:
                    login(client, c.user, c.password.reveal())
                refused = client.sendmail(c.envelope_from, recipients, message)
            finally:
                quit_session(client)  # after a 250 the message is sent, whatever QUIT gets for an answer (421, a hang-up)
        except (TransientError, PermanentError):
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise TransientError(f"{where} refused the login ({exc.smtp_code}): check MONITOR_SMTP_USER and the password") from None
        except smtplib.SMTPRecipientsRefused as exc:
            refusals(where, exc.recipients, recipients, c.recipients, message, accepted=False)
            raise AssertionError("unreachable")
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, other replies
            kind = TransientError if 400 <= exc.smtp_code < 500 else PermanentError
            if isinstance(exc, smtplib.SMTPSenderRefused):
                kind = TransientError  # a configuration problem the operator can fix: keep the message
            raise kind(f"{where} answered {exc.smtp_code} {redact(reply_text(exc.smtp_error), c.recipients, c.envelope_from)}") from None
        except smtplib.SMTPServerDisconnected as exc:  # smtplib reports a read timeout this way too
            if "timed out" in str(exc):
                raise TransientError(f"{where} did not answer within {c.timeout:g} s", quick_retry=False) from None
            raise TransientError(f"{where}: {exc}") from None
        except smtplib.SMTPException as exc:
            raise TransientError(f"{where}: {exc}") from None
        except ssl.SSLError as exc:
            raise TransientError(f"{where}: TLS failed: {exc.reason or exc}") from None
        except socket.timeout:
            raise TransientError(f"{where} did not answer within {c.timeout:g} s", quick_retry=False) from None
        except OSError as exc:
            raise TransientError(f"{where} unreachable: {exc.strerror or exc}") from None
        if refused:  # accepted for the others: raising would send them a second copy
            refusals(where, refused, recipients, c.recipients, message, accepted=True)


# --- HTML -------------------------------------------------------------------------------------

def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _link(url: str, label: str) -> str:
    href = safe_url(url)
    if href is None:
        return _e(label)
    return f'<a href="{_e(href)}" style="color:#1a4f8b">{_e(label)}</a>'


def _snippet_html(story: DigestStory) -> str:
    return "".join(
        f'<mark style="background:#ffe58a;font-weight:bold">{_e(piece)}</mark>' if hit else _e(piece)
        for piece, hit in segments(story.snippet, story.highlights)
    )


def _story_html(story: DigestStory, zone: str = "UTC", page: str = "") -> str:
    title = one_line(story.title, 300) or "(no title)"
    parts = [
        '<div style="margin:0 0 18px 0">',
        f'<h3 style="margin:0 0 4px 0;font-size:16px" dir="auto">{_link(story.url, title)}</h3>',
        f'<div style="color:#555;font-size:13px">{_e(one_line(story.source, 80))} · {_e(fmt_time(story.published, zone))}'
        + (f" · {_link(page, f'story {story.story_id}')}" if page else f" · story {story.story_id}") + (f" · <b>{RECHECK_MARK}</b>" if story.found_on_recheck else "") + "</div>",
    ]
    if story.incident:  # delivery/incidents.py: the record of the incident this entry stands for
        parts.append(f'<div style="font-size:13px;font-weight:bold" dir="auto">{_e(one_line(story.incident, 400))}</div>')
    if matched(story):
        terms = ", ".join(_e(t) for t in matched(story))
        parts.append(f'<div style="color:#555;font-size:13px">Matched: {terms}</div>')
    if story.snippet:
        parts.append(f'<p style="margin:6px 0" dir="auto">{_snippet_html(story)}</p>')
    if story.also_reported_by:
        links = ", ".join(_link(url, one_line(src, 80)) + (f" — “{_e(one_line(title, 200))}”" if title else "")
                          for src, url, title in also_reported(story))
        parts.append(f'<div style="font-size:13px" dir="auto">Also reported by: {links}</div>')
    parts.append("</div>")
    return "\n".join(parts)


def render_html(digest: Digest) -> str:
    """A self-contained HTML page with inline styles (mail clients drop <style> blocks)."""
    head = f"{KIND_LABEL.get(digest.kind, digest.kind)}: {summary_line(digest)}"
    color = "#b00020" if digest.kind == "urgent" else "#222"
    body = [
        f'<h1 style="font-size:20px;color:{color}">{_e(head)}</h1>',
        f'<div style="color:#555;font-size:13px">Pamir news monitor · {_e(fmt_time(digest.created_at, digest.timezone))}</div>',
    ]
    if digest.kind == "test":
        body.append("<p>This is a test message: the channel works. No stories are included.</p>")
    body += _urgent_html(digest)
    if digest.urgent_sent:
        body.append('<p style="color:#b00020">Urgent alerts sent since the last digest (not repeated below):</p><ul>')
        body.extend(f'<li dir="auto">story {s.story_id}: {_e(one_line(s.title, 200))}</li>' for s in digest.urgent_sent)
        body.append("</ul>")
    for topic, stories in digest.by_topic():
        count = plural(len(stories), "story", "stories")
        body.append(f'<h2 style="font-size:18px;border-bottom:1px solid #ccc">{_e(one_line(topic, 80))} ({count})</h2>')
        body.extend(_story_html(s, digest.timezone, digest.story_page(s.story_id)) for s in stories)
    if digest.updates:
        body.append('<h2 style="font-size:18px;border-bottom:1px solid #ccc">Also reported by</h2><ul>')
        for story in digest.updates:
            links = ", ".join(_link(url, one_line(src, 80)) for src, url in story.also_reported_by)
            title = _link(story.url, one_line(story.title, 300) or "(no title)")
            body.append(f'<li dir="auto">{title}' + (f" — now also: {links}" if links else "") + "</li>")
        body.append("</ul>")
    if digest.changes:  # evidence/recheck.py
        body.append('<h2 style="font-size:18px;border-bottom:1px solid #ccc">Pages changed since capture</h2><ul>')
        for change in digest.changes:
            title = _link(change.url, one_line(change.title, 300) or "(no title)")
            page = digest.story_page(change.story_id)  # where every version is shown side by side
            story = _link(page, f"story {change.story_id}") if page else f"story {change.story_id}"
            body.append(f'<li dir="auto">{title} — {_e(one_line(change.source, 80))}: '
                        f'<b>{_e(one_line(change.note, 200))}</b> ({story})</li>')
        body.append("</ul>")
    body += _mentions_html(digest)
    if digest.failing_feeds:
        body.append('<hr><p style="color:#555;font-size:13px">Feeds failing for a long time (check them):</p><ul style="color:#555;font-size:13px">')
        for feed in digest.failing_feeds:
            body.append(f"<li>{_e(one_line(feed.name, 80))}: since {_e(fmt_time(feed.since, digest.timezone))}: {_e(one_line(feed.error, 200))}</li>")
        body.append("</ul>")
    if digest.recovered:
        body.append('<p style="color:#555;font-size:13px">Feeds working again:</p><ul style="color:#555;font-size:13px">')
        body.extend(f"<li>{_e(one_line(name, 80))}</li>" for name in digest.recovered)
        body.append("</ul>")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{_e(subject(digest))}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;max-width:720px">\n' + "\n".join(body) + "\n</body></html>\n"
    )


def _urgent_html(digest: Digest) -> list[str]:
    """An alert names the urgent topic and quotes the sentence that made it urgent."""
    out = []
    for story in digest.stories if digest.kind == "urgent" else ():
        if story.urgent_topic:
            quote = f' — <q dir="auto">{_e(one_line(story.urgent_sentence, 400))}</q>' if story.urgent_sentence else ""
            out.append(f'<p style="color:#b00020">Urgent topic: <b>{_e(one_line(digest.title_of(story.urgent_topic), 80))}</b>{quote}</p>')
    return out


def _mentions_html(digest: Digest) -> list[str]:
    """The safety net, last: unmatched articles that name a GBAO place or the Pamiris."""
    if not digest.mentions:
        return []
    out = [f'<h2 style="font-size:16px;border-bottom:1px solid #ccc">{_e(MENTIONS_HEADING)} '
           f'({len(digest.mentions) + digest.more_mentions})</h2>',
           f'<div style="color:#555;font-size:13px">{_e(MENTIONS_NOTE)}</div><ul>']
    for m in digest.mentions:
        out.append(f'<li dir="auto">{_link(m.url, one_line(m.title, 300) or "(no title)")} '
                   f'<span style="color:#555;font-size:13px">{_e(one_line(m.source, 80))} · {_e(fmt_time(m.published, digest.timezone))}'
                   f'</span><br><span style="font-size:13px">{_e(one_line(m.line, 300))}</span></li>')
    out.append("</ul>")
    if digest.more_mentions:
        out.append(f'<p style="color:#555;font-size:13px">… and {digest.more_mentions} more</p>')
    return out
