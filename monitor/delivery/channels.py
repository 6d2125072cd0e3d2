"""Delivery channels, configured from the environment only, so secrets never sit in the YAML files.

Email and Telegram may both be configured; each gets every digest. With neither, digests go to
stdout (or are appended to MONITOR_DIGEST_FILE). Incomplete settings are a ConfigError naming the
variable to fix; secret values never appear in any message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from monitor.config.feeds import ConfigError, Problem
from monitor.config.recipients import same_address
from monitor.delivery.notifier import Notifier, PermanentError, Secret, TransientError
from monitor.delivery.email import EmailConfig, EmailNotifier, is_loopback
from monitor.delivery.stdout import StdoutNotifier
from monitor.delivery.telegram import TelegramNotifier

__all__ = [
    "Notifier", "TransientError", "PermanentError", "Secret", "EmailNotifier", "TelegramNotifier", "StdoutNotifier",
    "notifiers_from_env", "describe_channels",
]

_EMAIL_VARS = ("MONITOR_SMTP_HOST", "MONITOR_EMAIL_TO", "MONITOR_EMAIL_FROM", "MONITOR_SMTP_USER")
_ADDRESS = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")
_CHAT = re.compile(r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{3,})$")
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")


def _problem(message: str) -> Problem:
    return Problem("environment", None, message)


def read_secret(environ: Mapping[str, str], var: str, credential: str, problems: list[Problem]) -> Secret | None:
    """A secret from VAR, VAR_FILE, or $CREDENTIALS_DIRECTORY/<credential> (systemd), in that order."""
    direct, file_var = environ.get(var, ""), environ.get(f"{var}_FILE", "")
    if direct and file_var:
        problems.append(_problem(f"both {var} and {var}_FILE are set; set only one"))
        return None
    if direct:
        return Secret(direct.strip())
    candidates = [(file_var, f"{var}_FILE")] if file_var else []
    creds = environ.get("CREDENTIALS_DIRECTORY", "")
    if not file_var and creds and (Path(creds) / credential).exists():
        candidates.append((str(Path(creds) / credential), f"credential {credential}"))
    for path, origin in candidates:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(_problem(f"cannot read the secret file {path} ({origin}): {getattr(exc, 'strerror', None) or type(exc).__name__}"))
            return None
        if not value:
            problems.append(_problem(f"the secret file {path} ({origin}) is empty"))
            return None
        return Secret(value)
    return None


def _email(environ: Mapping[str, str], problems: list[Problem], routed: Sequence[str] = ()) -> EmailNotifier | None:
    host = environ.get("MONITOR_SMTP_HOST", "").strip()
    password = read_secret(environ, "MONITOR_SMTP_PASSWORD", "smtp_password", problems)
    if not host and not routed and not any(environ.get(v, "").strip() for v in _EMAIL_VARS):
        return None
    before = len(problems)
    recipients = [r.strip() for r in environ.get("MONITOR_EMAIL_TO", "").split(",") if r.strip()]
    if not host:
        problems.append(_problem("MONITOR_EMAIL_TO (or another email setting) is set but MONITOR_SMTP_HOST is not"
                                 if not routed else "a recipient in feeds.yaml has email: but MONITOR_SMTP_HOST is not set"))
    if not recipients and not routed:
        problems.append(_problem("MONITOR_SMTP_HOST is set but MONITOR_EMAIL_TO is not"))
    for r in recipients:
        if not _ADDRESS.match(r):
            problems.append(_problem(f"MONITOR_EMAIL_TO: {r!r} is not an email address (comma-separated plain addresses)"))
    user = environ.get("MONITOR_SMTP_USER", "").strip() or None
    sender = environ.get("MONITOR_EMAIL_FROM", "").strip() or (user if user and _ADDRESS.match(user) else "")
    if not sender:
        problems.append(_problem("MONITOR_EMAIL_FROM is not set (the From address of the digests)"))
    elif "\n" in sender or "\r" in sender or "@" not in sender:
        problems.append(_problem("MONITOR_EMAIL_FROM is not a valid address"))
    if user and not password:
        problems.append(_problem("MONITOR_SMTP_USER is set but no password (MONITOR_SMTP_PASSWORD, _FILE or credential smtp_password)"))
    if password and not user:
        problems.append(_problem("an SMTP password is set but MONITOR_SMTP_USER is not"))
    security = environ.get("MONITOR_SMTP_SECURITY", "").strip().lower()
    port_text = environ.get("MONITOR_SMTP_PORT", "").strip()
    if not security:
        security = "ssl" if port_text == "465" else "starttls"
    if security not in ("starttls", "ssl", "none"):
        problems.append(_problem(f"MONITOR_SMTP_SECURITY must be starttls, ssl or none, not {security!r}"))
    port = {"ssl": 465, "none": 25}.get(security, 587)
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            problems.append(_problem(f"MONITOR_SMTP_PORT must be a port number, not {port_text!r}"))
        else:
            port = int(port_text)
    if security == "none" and password and host and not is_loopback(host):
        problems.append(_problem(
            f"MONITOR_SMTP_SECURITY=none would send the SMTP password unencrypted to {host}; use starttls or ssl"))
    timeout = _number(environ, "MONITOR_SMTP_TIMEOUT", 60.0, problems)
    cafile = environ.get("MONITOR_SMTP_CAFILE") or None
    if cafile and not os.path.isfile(cafile):  # else every send said "SMTP server unreachable: No such file"
        problems.append(_problem(f"MONITOR_SMTP_CAFILE={cafile}: no such file (the CA certificate of the mail server)"))
    if len(problems) > before:
        return None
    return EmailNotifier(EmailConfig(
        host=host, port=port, security=security, sender=sender, recipients=recipients, user=user, password=password,
        timeout=timeout, cafile=cafile,
    ))


def _telegram(environ: Mapping[str, str], problems: list[Problem], routed: Sequence[str] = ()) -> list[TelegramNotifier]:
    token = read_secret(environ, "MONITOR_TELEGRAM_TOKEN", "telegram_token", problems)
    chats = [c.strip() for c in environ.get("MONITOR_TELEGRAM_CHAT_ID", "").split(",") if c.strip()]
    if not token and not chats and not routed:
        return []
    before = len(problems)
    if token and not chats and not routed:
        problems.append(_problem("a Telegram token is set but MONITOR_TELEGRAM_CHAT_ID is not"))
    if (chats or routed) and not token:
        problems.append(_problem(("MONITOR_TELEGRAM_CHAT_ID is set" if chats else "a recipient in feeds.yaml has telegram:")
                                 + " but no token (MONITOR_TELEGRAM_TOKEN, _FILE or credential telegram_token)"))
    if token and not _TOKEN.match(token.reveal()):
        problems.append(_problem("the Telegram token does not look like a bot token (digits:letters, from @BotFather)"))
    for chat in chats:
        if not _CHAT.match(chat):
            problems.append(_problem(f"MONITOR_TELEGRAM_CHAT_ID: {chat!r} is not a chat id (a number like -1001234567890, or @channelname)"))
    base = environ.get("MONITOR_TELEGRAM_API", "").strip().rstrip("/") or "https://api.telegram.org"
    m = re.match(r"^(https?)://\[?([^/\]:]+)", base)
    if not m:
        problems.append(_problem(f"MONITOR_TELEGRAM_API must be an http(s) URL, not {base!r}"))
    elif m.group(1) == "http" and not is_loopback(m.group(2)):
        problems.append(_problem("MONITOR_TELEGRAM_API uses plain http to a remote host: the token would travel unencrypted"))
    if len(problems) > before or token is None:
        return []
    # "@PamirDesk" in the environment and "@pamirdesk" in feeds.yaml: one channel, named as the reader's entry
    # names it (Recipient.channel), so what its outbox holds stays its own
    unique: dict[str, str] = {}
    for chat in [*routed, *chats]:
        unique.setdefault(same_address(chat), chat)
    return [TelegramNotifier(token, chat, base) for chat in unique.values()]


def _number(environ: Mapping[str, str], var: str, default: float, problems: list[Problem]) -> float:
    text = environ.get(var, "").strip()
    if not text:
        return default
    try:
        value = float(text)
        if value > 0:
            return value
    except ValueError:
        pass
    problems.append(_problem(f"{var} must be a positive number of seconds, not {text!r}"))
    return default


def notifiers_from_env(environ: Mapping[str, str] | None = None, *, feeds=None, rules=None) -> list[Notifier]:
    """Every configured channel; stdout (or the digest file) when none. Raises ConfigError listing all problems.

    `feeds` (a FeedsFile) brings its `recipients:`: each gets a channel of its own that only takes what its
    routing selects (delivery/routing.py); `rules` (keywords.yaml) lets their topics be named by title."""
    environ = os.environ if environ is None else environ
    recipients = list(getattr(feeds, "recipients", None) or ())
    problems: list[Problem] = []
    notifiers: list[Notifier] = []
    email = _email(environ, problems, [r.email for r in recipients if r.email])
    telegram = _telegram(environ, problems, [r.telegram for r in recipients if r.telegram])
    if problems:
        raise ConfigError(problems)
    if email or telegram:
        notifiers += _routed(email, telegram, recipients, feeds, rules)
    if not notifiers:
        notifiers.append(StdoutNotifier(path=environ.get("MONITOR_DIGEST_FILE") or None))
    return notifiers


def env_problems(environ: Mapping[str, str], emails: Sequence[str] = (), chats: Sequence[str] = ()) -> list[Problem]:
    """The delivery environment's mistakes alone, given the recipients' addresses as written: what check-config
    says when feeds.yaml does not validate, so a broken recipient does not read as a missing MONITOR_EMAIL_TO."""
    problems: list[Problem] = []
    _email(environ, problems, emails)
    _telegram(environ, problems, chats)
    return problems


def _routed(email: EmailNotifier | None, telegram: list[TelegramNotifier], recipients: list, feeds, rules) -> list:
    """The shared channels (everything) first, then one routed channel per recipient."""
    from dataclasses import replace

    from monitor.delivery.routing import RoutedNotifier

    languages = {f.name: f.language for f in feeds.feeds if f.language} if feeds is not None else {}
    titles = {t.casefold(): topic for topic, t in (getattr(rules, "titles", None) or {}).items()}
    # an address routed to a reader is not also sent everything, however its case is written in either place
    routed_mail = {same_address(r.email) for r in recipients if r.email}
    routed_chats = {same_address(r.telegram) for r in recipients if r.telegram}
    out: list = []
    if email is not None:
        shared = [a for a in email.config.recipients if same_address(a) not in routed_mail]
        if shared:
            out.append(EmailNotifier(replace(email.config, recipients=shared)))
    out += [n for n in telegram if same_address(n.chat_id) not in routed_chats]
    by_chat = {same_address(n.chat_id): n for n in telegram}
    for r in recipients:
        topics = tuple(titles.get(t.casefold(), t) for t in r.topics)
        if r.email and email is not None:
            inner = EmailNotifier(replace(email.config, recipients=[r.email]))
            inner.channel = r.channel
        elif r.telegram and same_address(r.telegram) in by_chat:
            inner = by_chat[same_address(r.telegram)]
        else:
            continue
        out.append(RoutedNotifier(inner, r, topics, languages))
    return out


def channels_summary(notifiers: Sequence[Notifier]) -> str:
    """The channels in use as the service's first log line names them: kinds and counts only (no address, no
    chat id, no host: journald lines travel)."""
    notifiers = [getattr(n, "inner", n) for n in notifiers]  # a routed channel is still an email or a chat
    chats = sum(isinstance(n, TelegramNotifier) for n in notifiers)
    parts = []
    for n in notifiers:
        if isinstance(n, EmailNotifier):
            parts.append(f"email ({len(n.config.recipients)} recipient{'s' if len(n.config.recipients) != 1 else ''})")
        elif isinstance(n, StdoutNotifier):
            parts.append("digest file (append)" if n.path else "stdout")
    if chats:
        parts.append(f"telegram ({chats} chat{'s' if chats != 1 else ''})")
    return ", ".join(parts) or "none"


def who_gets_what(notifiers: Sequence[Notifier], titles: Mapping[str, str] | None = None) -> list[str]:
    """One line per channel for `check-config`: where it goes and what it takes (secrets never shown)."""
    lines = []
    for n in notifiers:
        route = getattr(n, "recipient", None)
        text = n.describe() if hasattr(n, "describe") else repr(n)
        lines.append(f"{text} — {route.summary(dict(titles or {}))}" if route else f"{text} — everything")
    return lines


def describe_channels(channels: Mapping[str, str] | Sequence[Notifier]) -> str:
    """One secret-free line for `check-config`, status and startup logs; takes the environment or the notifiers."""
    notifiers = notifiers_from_env(channels) if isinstance(channels, Mapping) else list(channels)
    return "; ".join(n.describe() if hasattr(n, "describe") else repr(n) for n in notifiers)
