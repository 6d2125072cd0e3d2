"""The SMTP session of one send: a request and reply bounded when the run stops, the login, and the refusals
sorted recipient by recipient (who is owed the message still, and who refused it for good).

Used by email.py alone.
"""

from __future__ import annotations

import base64
import hashlib
import smtplib
import socket
import time
from collections.abc import Callable

from monitor.delivery.notifier import PartlyDelivered, PermanentError, TransientError, one_line

# --- recipient by recipient -------------------------------------------------------------------
# A message some recipients took is stored again for the others alone, behind one first line naming them by
# a short hash of the address: the state never holds an address, and a recipient taken off MONITOR_EMAIL_TO
# since is not written to. The line is removed before the message is sent.

_OWED = "X-Monitor-Owed-To: "


def _tag(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:16]


def owed_to(message: str, configured: list[str]) -> tuple[list[str], str]:
    """The recipients a stored message is still owed to, and the message as it is sent."""
    if not message.startswith(_OWED):
        return list(configured), message
    line, _, rest = message.partition("\r\n")
    tags = set(line[len(_OWED):].split())
    return [r for r in configured if _tag(r) in tags], rest


def refusals(where: str, refused: dict, tried: list[str], configured: list[str], message: str, *,
              accepted: bool) -> None:
    """Sort the refusals of one send: a temporary one (4xx, greylisting) keeps the message for that recipient
    alone; a permanent one (5xx) is reported once and never retried."""
    later = [a for a in tried if a in refused and 400 <= refused[a][0] < 500]
    gone = [a for a in tried if a in refused and a not in later]

    def detail(addresses: list[str]) -> str:
        return "; ".join(f"recipient {configured.index(a) + 1 if a in configured else '?'}: {refused[a][0]} "
                         f"{redact(reply_text(refused[a][1]), configured)}" for a in addresses)

    took = len(tried) - len(refused)
    if not later and not accepted:
        raise PermanentError(f"{where} refused all recipients: {detail(gone)}")
    if later and not gone and not accepted:
        raise TransientError(f"{where} deferred all recipients: {detail(later)}")
    rest = _OWED + " ".join(_tag(a) for a in later) + "\r\n" + message if later else None
    reason = (f"{where} took it for {took} of {len(tried)} recipient(s)"
              + (f"; deferred {detail(later)}" if later else ""))
    refusal = f"{where} refused {len(gone)} of {len(tried)} recipient(s): {detail(gone)}" if gone else None
    raise PartlyDelivered(reason, rest=rest, refused=refusal)  # errors name a recipient's place, never the address


class Bounded(smtplib.SMTP):
    """smtplib's SMTP whose every request and reply after a stop ends by `stop_by()` (EmailNotifier.hurry)."""

    stop_by: Callable[[], float | None] = staticmethod(lambda: None)

    def _cap(self) -> None:
        stop_by = self.stop_by()
        if stop_by is not None and self.sock is not None:
            left = stop_by - time.monotonic()
            if left <= 0:
                raise socket.timeout("the run is stopping")
            self.sock.settimeout(min(self.timeout, left))

    def send(self, s) -> None:
        self._cap()
        super().send(s)

    def getreply(self):
        self._cap()
        return super().getreply()


class BoundedSSL(Bounded, smtplib.SMTP_SSL):
    pass


def quit_session(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def login(client: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib's login() cannot send a non-ASCII password; AUTH PLAIN is UTF-8 by definition (RFC 4616)."""
    if (user + password).isascii():
        client.login(user, password)
        return
    if "plain" not in client.esmtp_features.get("auth", "").lower().split():
        raise TransientError("the SMTP password is not ASCII and the server does not offer AUTH PLAIN")
    token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, response = client.docmd("AUTH", "PLAIN " + token)
    if code not in (235, 503):
        raise smtplib.SMTPAuthenticationError(code, response)


def redact(text: str, recipients: list[str], sender: str = "") -> str:
    """Server replies often quote the address (`550 <a@b>: no such user`); errors reach journald without it."""
    for number, address in enumerate(recipients, 1):
        text = text.replace(address, f"recipient {number}") if address else text
    return text.replace(sender, "the sender") if sender else text


def reply_text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return one_line(value, 200)
