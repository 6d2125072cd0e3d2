"""Email digests as a monitor receives them: a real SMTP server on loopback, the message parsed back."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from monitor.config.feeds import ConfigError
from monitor.models import Digest, DigestStory, FailingFeed
from monitor.delivery.channels import StdoutNotifier, notifiers_from_env
from monitor.delivery.notifier import PermanentError, TransientError
from monitor.delivery.email import EmailNotifier
from tests.support.smtp_sink import SmtpSink, free_port, make_cert

NOW = datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)
TAJIK = "Дар Хоруғ як фаъол боздошт шуд: ғ қ ҳ ҷ ӣ ӯ"
PERSIAN = "بازداشت فعال پامیری در خاروغ"


def story(i: int, title: str, topic: str = "detentions", snippet: str = "", terms=("detained",), **kw) -> DigestStory:
    snippet = snippet or f"Police detained activist number {i} in Khorog on Monday, relatives said."
    start = snippet.find(terms[0]) if terms and terms[0] in snippet else 0
    spans = ((start, start + len(terms[0])),) if terms and terms[0] in snippet else ()
    return DigestStory(i, title, f"https://news.example.org/{i}", "Asia-Plus", NOW, (topic,), tuple(terms), snippet,
                       spans, 1.0 - i / 100, **kw)


def send(notifier: EmailNotifier, digest: Digest) -> list[str]:
    parts = notifier.render(digest)
    for part in parts:
        asyncio.run(notifier.send(part))
    return parts


def email_notifier(sink: SmtpSink, **env: str) -> EmailNotifier:
    (notifier,) = notifiers_from_env({**sink.env(), **env})
    assert isinstance(notifier, EmailNotifier)
    return notifier


def test_a_digest_arrives_as_multipart_alternative_with_cyrillic_tajik_and_persian_intact():
    digest = Digest("digest", NOW, (
        story(1, "Активист задержан в Хороге"),
        story(2, TAJIK, snippet="Хабар: " + TAJIK, terms=("боздошт",)),
        story(3, PERSIAN, topic="internet", snippet="گزارش: " + PERSIAN, terms=("بازداشت",)),
    ))
    with SmtpSink() as sink:
        send(email_notifier(sink, MONITOR_EMAIL_FROM="Памир монитор <alerts@example.org>"), digest)
        assert sink.wait_for(1)
        msg = sink.messages[0]
    assert msg["Subject"] == "Pamir monitor: 3 stories on detentions, internet"
    assert msg["From"].addresses[0].display_name == "Памир монитор"
    assert msg["To"] == "monitor@example.org"
    assert msg["Date"].datetime == NOW
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.org>")
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    for body in (text, page):
        assert "Активист задержан в Хороге" in body and TAJIK in body and PERSIAN in body
    # topics are headings, titles are links, the matched terms are highlighted in the snippet
    assert '<h2 style="font-size:18px;border-bottom:1px solid #ccc">detentions (2 stories)</h2>' in page
    assert '<a href="https://news.example.org/1" style="color:#1a4f8b">Активист задержан в Хороге</a>' in page
    assert ">боздошт</mark>" in page and ">detained</mark>" in page
    assert "Asia-Plus · 2026-05-01 09:30 UTC" in page
    assert "⟦detained⟧" in text and "Matched: detained" in text and "https://news.example.org/3" in text


def test_urgent_subject_names_the_story_and_a_title_with_crlf_cannot_inject_headers_or_markup():
    evil = "Arrests in Khorog\r\nBcc: attacker@evil.example\r\n\r\n<script>alert(1)</script> & <b>more</b>"
    digest = Digest("urgent", NOW, (
        DigestStory(7, evil, "javascript:alert(1)", "Feed <i>X</i>\r\nX-Evil: 1", NOW, ("detentions",),
                    ("arrests",), "Arrests in Khorog\r\n<img src=x onerror=alert(1)>", ((0, 7),), 0.9,
                    (("RFE/RL\"><script>", "https://rus.ozodi.org/a/1?x=\"><script>"),)),
    ))
    with SmtpSink() as sink:
        send(email_notifier(sink), digest)
        assert sink.wait_for(1)
        msg, (_, rcpt, _raw) = sink.messages[0], sink.envelopes[0]
    assert rcpt == ["monitor@example.org"]
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Subject"].startswith("URGENT Pamir monitor: 1 story on detentions — Arrests in Khorog Bcc:")
    assert msg["Importance"] == "high" and msg["X-Monitor-Kind"] == "urgent"
    page = msg.get_body(("html",)).get_content()
    assert "<script" not in page and "<img" not in page and "<b>more" not in page and "<i>X" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;more&lt;/b&gt;" in page
    assert 'href="javascript' not in page  # a non-http link is shown as text, never made clickable
    assert "Also reported by: RFE/RL&quot;&gt;&lt;script&gt;" in page  # a URL with quotes or brackets stays text
    text = msg.get_body(("plain",)).get_content()
    title_line = next(line for line in text.splitlines() if line.startswith("1. "))
    assert title_line == "1. Arrests in Khorog Bcc: attacker@evil.example <script>alert(1)</script> & <b>more</b>"


def _as_a_mail_client_reads(raw: bytes, name: str) -> str:
    """A header as RFC 2047 says to read it: unfolded, and whitespace between two encoded-words dropped."""
    import re
    from email.header import decode_header

    head = raw.split(b"\r\n\r\n")[0].decode("ascii")
    value = re.search(rf"^{name}:(.*?)\r\n(?=\S|$)", head + "\r\n", re.M | re.S).group(1)
    return "".join(p.decode(c or "ascii") if isinstance(p, bytes) else p
                   for p, c in decode_header(value.replace("\r\n", ""))).strip()


def test_a_russian_urgent_subject_keeps_every_space_in_a_mail_client():
    # Python's own folding put one space between two encoded-words, where readers drop it ("ВРушане")
    title = "В Рушане убит местный житель, сообщают родственники погибшего, задержаны ещё трое"
    with SmtpSink() as sink:
        send(email_notifier(sink), Digest("urgent", NOW, (story(1, title, topic="killings", terms=()),)))
        assert sink.wait_for(1)
        raw = sink.envelopes[0][2]
    assert _as_a_mail_client_reads(raw, "Subject") == f"URGENT Pamir monitor: 1 story on killings — {title}"
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))


def test_each_kind_gets_its_own_subject_and_updates_and_failing_feeds_are_shown():
    updates = (DigestStory(3, "Earlier story on Rushan", "https://a.example/3", "Asia-Plus", NOW, ("detentions",), (),
                           "", also_reported_by=(("Ozodi", "https://ozodi.example/9"),)),)
    failing = (FailingFeed("Pamir Daily", datetime(2026, 4, 28, tzinfo=timezone.utc), "HTTP 503 Service Unavailable"),)
    digest = Digest("digest", NOW, (story(1, "Detention in Khorog"),), updates, failing)
    with SmtpSink() as sink:
        notifier = email_notifier(sink)
        send(notifier, digest)
        send(notifier, Digest("backfill", NOW, tuple(story(i, f"Old story {i}") for i in range(1, 4))))
        send(notifier, Digest("test", NOW, title="test message"))
        assert sink.wait_for(3)
        subjects = [m["Subject"] for m in sink.messages]
        page = sink.messages[0].get_body(("html",)).get_content()
        text = sink.messages[0].get_body(("plain",)).get_content()
    assert subjects == [
        "Pamir monitor: 1 story on detentions; 1 update",
        "Pamir monitor backfill: 3 stories on detentions",
        "Pamir monitor test: test message",
    ]
    assert '<a href="https://ozodi.example/9" style="color:#1a4f8b">Ozodi</a>' in page
    assert "now also Ozodi: https://ozodi.example/9" in text
    assert "Pamir Daily: since 2026-04-28 00:00 UTC: HTTP 503 Service Unavailable" in page
    assert "- Pamir Daily: since 2026-04-28 00:00 UTC: HTTP 503 Service Unavailable" in text


def test_several_recipients_each_get_it_without_seeing_the_others():
    with SmtpSink() as sink:
        send(email_notifier(sink, MONITOR_EMAIL_TO="a@example.org, b@example.org"), Digest("test", NOW, title="t"))
        assert sink.wait_for(1)
        (_, rcpt, raw) = sink.envelopes[0]
    assert rcpt == ["a@example.org", "b@example.org"]
    assert b"a@example.org" not in raw and b"b@example.org" not in raw
    assert sink.messages[0]["To"] == "undisclosed-recipients:;"


def test_a_resend_of_the_stored_message_carries_the_same_message_id():
    with SmtpSink() as sink:
        notifier = email_notifier(sink)
        (stored,) = notifier.render(Digest("digest", NOW, (story(1, "Detention"),)))
        asyncio.run(notifier.send(stored))
        asyncio.run(notifier.send(stored))
        assert sink.wait_for(2)
        assert sink.messages[0]["Message-ID"] == sink.messages[1]["Message-ID"]
    assert stored.isascii()


def test_login_works_with_a_password_from_a_file_and_the_password_never_shows(tmp_path, caplog):
    secret = "s3cret-Пароль"
    (tmp_path / "pw").write_text(secret + "\n", encoding="utf-8")
    with SmtpSink(auth={"monitor": secret}) as sink:
        env = {**sink.env(), "MONITOR_SMTP_USER": "monitor", "MONITOR_SMTP_PASSWORD_FILE": str(tmp_path / "pw")}
        (notifier,) = notifiers_from_env(env)
        send(notifier, Digest("test", NOW, title="test message"))
        assert sink.wait_for(1) and sink.logins == ["monitor"]
        (tmp_path / "pw").write_text("wrong", encoding="utf-8")
        (wrong,) = notifiers_from_env(env)
        with pytest.raises(TransientError) as err:
            asyncio.run(wrong.send(wrong.render(Digest("test", NOW, title="t"))[0]))
    assert "refused the login" in err.value.reason and "MONITOR_SMTP_USER" in err.value.reason
    for shown in (repr(notifier), repr(notifier.config), notifier.describe(), str(err.value), caplog.text):
        assert secret not in shown and "wrong" not in shown


def test_starttls_with_a_private_ca_and_systemd_credentials(tmp_path):
    cert, key = make_cert(tmp_path)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smtp_password").write_text("tls-pass", encoding="utf-8")
    with SmtpSink(auth={"monitor": "tls-pass"}, tls_cert=(cert, key)) as sink:
        env = {**sink.env(), "MONITOR_SMTP_SECURITY": "starttls", "MONITOR_SMTP_USER": "monitor",
               "MONITOR_SMTP_CAFILE": str(cert), "CREDENTIALS_DIRECTORY": str(creds)}
        (notifier,) = notifiers_from_env(env)
        send(notifier, Digest("test", NOW, title="test message"))
        assert sink.wait_for(1) and sink.logins == ["monitor"]


def test_refusals_and_a_dead_server_say_whether_a_retry_can_help():
    with SmtpSink() as sink:
        notifier = email_notifier(sink)
        (message,) = notifier.render(Digest("test", NOW, title="t"))
        sink.refuse(451, "greylisted, try later")
        with pytest.raises(TransientError, match="451 greylisted"):
            asyncio.run(notifier.send(message))
        sink.refuse(554, "rejected as spam")
        with pytest.raises(PermanentError, match="554 rejected as spam"):
            asyncio.run(notifier.send(message))
    notifier.config.port = free_port()
    with pytest.raises(TransientError, match="unreachable"):
        asyncio.run(notifier.send(message))


@pytest.mark.parametrize("env, complaint", [
    ({"MONITOR_SMTP_HOST": "mail.example.org"}, "MONITOR_SMTP_HOST is set but MONITOR_EMAIL_TO is not"),
    ({"MONITOR_EMAIL_TO": "a@example.org"}, "MONITOR_SMTP_HOST is not"),
    ({"MONITOR_SMTP_HOST": "mail.example.org", "MONITOR_EMAIL_TO": "a@example.org", "MONITOR_EMAIL_FROM": "m@example.org",
      "MONITOR_SMTP_USER": "m", "MONITOR_SMTP_PASSWORD": "hunter2", "MONITOR_SMTP_SECURITY": "none"},
     "would send the SMTP password unencrypted"),
    ({"MONITOR_SMTP_HOST": "mail.example.org", "MONITOR_EMAIL_TO": "a@example.org", "MONITOR_EMAIL_FROM": "m@example.org",
      "MONITOR_SMTP_SECURITY": "tls"}, "must be starttls, ssl or none"),
    ({"MONITOR_SMTP_HOST": "h", "MONITOR_EMAIL_TO": "a@example.org", "MONITOR_EMAIL_FROM": "m@example.org",
      "MONITOR_SMTP_USER": "m", "MONITOR_SMTP_PASSWORD": "hunter2", "MONITOR_SMTP_PASSWORD_FILE": "/x"},
     "both MONITOR_SMTP_PASSWORD and MONITOR_SMTP_PASSWORD_FILE are set"),
    ({"MONITOR_SMTP_HOST": "h", "MONITOR_EMAIL_TO": "a@example.org", "MONITOR_EMAIL_FROM": "m@example.org",
      "MONITOR_SMTP_CAFILE": "/etc/ssl/our-mail-ca.pem"},  # not "SMTP server unreachable" at every send
     "MONITOR_SMTP_CAFILE=/etc/ssl/our-mail-ca.pem: no such file"),
])
def test_incomplete_email_settings_are_refused_with_the_variable_to_fix(env, complaint):
    with pytest.raises(ConfigError) as err:
        notifiers_from_env(env)
    assert complaint in str(err.value)
    assert "hunter2" not in str(err.value)
    assert str(err.value.problems[0]).startswith("environment: ")


def test_with_no_channel_the_digest_is_printed_or_appended_to_the_digest_file(tmp_path, capsys):
    digest = Digest("digest", NOW, (story(1, "Detention in Khorog"),))
    (printer,) = notifiers_from_env({})
    assert isinstance(printer, StdoutNotifier) and printer.channel == "stdout"
    asyncio.run(printer.send(printer.render(digest)[0]))
    out = capsys.readouterr().out
    assert "== detentions (1 story) ==" in out and "1. Detention in Khorog" in out and "⟦detained⟧" in out
    path = tmp_path / "digests.txt"
    (writer,) = notifiers_from_env({"MONITOR_DIGEST_FILE": str(path)})
    for _ in range(2):
        asyncio.run(writer.send(writer.render(digest)[0]))
    assert path.read_text(encoding="utf-8").count("1. Detention in Khorog") == 2
