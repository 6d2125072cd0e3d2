"""A real SMTP server on loopback (aiosmtpd) that records what it receives, for tests and benchmarks.

Switches: `refuse(code)` answers DATA with an error; `refuse_recipient(addr)` refuses one RCPT TO; `drop()`
closes the connection after DATA without any reply; `quit_reply` (e.g. "421 closing") answers QUIT with it; `stall()` holds a message mid-DATA (before the
250 — the client never hears that it was accepted, as with a server that hangs or a process killed
while waiting); `stall(after_receipt=True)` records the message first and then hangs, which is the
"server delivered it but we never saw the 250" window. `stalled` is set while a message is held.
`stop()` then `start()` again on the same port simulates a server that is down and comes back.

Controller(port=0) does not work with aiosmtpd, so a free port is found by binding a socket first.
"""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import subprocess
import threading
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def make_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (openssl CLI); the cert doubles as the client's CA file."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host},DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        refusal = self.sink.refused_recipients.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope) -> str:  # noqa: N802
        return self.sink.quit_reply or "221 Bye"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        sink = self.sink
        sink.data_commands += 1
        if sink.drop_after_data:  # the whole message was read; the connection goes without a reply
            server.transport.abort()
            return "451 never sent: the connection is gone"
        if sink.refuse_code:
            return f"{sink.refuse_code} {sink.refuse_text}"
        if sink.stall_mode and sink.stall_mode != "after_receipt":
            await self._hold()
            return "451 held and dropped by the test sink"
        sink._record(envelope)
        if sink.stall_mode == "after_receipt":
            await self._hold()
        return "250 OK: queued"

    async def _hold(self) -> None:
        sink = self.sink
        sink.stalled.set()
        deadline = time.monotonic() + sink.stall_limit
        while not sink._released.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)


class SmtpSink:
    """Usage: `with SmtpSink() as sink: ...; sink.wait_for(1); sink.messages[0]["Subject"]`."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int | None = None, auth: dict[str, str] | None = None,
        tls_cert: tuple[Path, Path] | None = None, stall_limit: float = 120.0,
    ):
        self.host, self.port = host, port or free_port(host)
        self.auth, self.tls_cert, self.stall_limit = auth, tls_cert, stall_limit
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str], bytes]] = []
        self.logins: list[str] = []
        self.data_commands = 0
        self.refuse_code: int | None = None
        self.refuse_text = ""
        self.stall_mode: str | None = None
        self.refused_recipients: dict[str, str] = {}  # address -> reply to its RCPT TO, e.g. "550 5.1.1 no such user"
        self.drop_after_data = False
        self.quit_reply: str | None = None
        self.stalled = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    # --- switches ---------------------------------------------------------------------------

    def refuse(self, code: int = 451, text: str = "try again later") -> None:
        self.refuse_code, self.refuse_text = code, text

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 mailbox unavailable") -> None:
        self.refused_recipients[address.lower()] = reply

    def drop(self) -> None:
        """Read each message to its end, then close the connection without the final reply."""
        self.drop_after_data = True

    def accept(self) -> None:
        self.refuse_code, self.stall_mode, self.drop_after_data = None, None, False
        self._released.set()

    def stall(self, after_receipt: bool = False) -> None:
        self.stalled.clear()
        self._released.clear()
        self.stall_mode = "after_receipt" if after_receipt else "before_accept"

    def release(self) -> None:
        self.stall_mode = None
        self._released.set()

    # --- results ----------------------------------------------------------------------------

    def _record(self, envelope) -> None:
        raw = envelope.original_content or envelope.content
        raw = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        with self._lock:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), raw))
            self.messages.append(email.message_from_bytes(raw, policy=policy.default))  # type: ignore[arg-type]

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count >= count:
                return True
            time.sleep(0.02)
        return self.count >= count

    # --- life cycle -------------------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.auth:
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.auth.get(user) == password:
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> "SmtpSink":
        kwargs: dict = {}
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.tls_cert is not None)
        if self.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls_cert[0]), str(self.tls_cert[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._controller:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def env(self, to: str = "monitor@example.org", sender: str = "Pamir monitor <alerts@example.org>") -> dict[str, str]:
        """MONITOR_SMTP_* settings pointing at this sink (plain SMTP on loopback)."""
        return {"MONITOR_SMTP_HOST": self.host, "MONITOR_SMTP_PORT": str(self.port), "MONITOR_SMTP_SECURITY": "none",
                "MONITOR_EMAIL_FROM": sender, "MONITOR_EMAIL_TO": to}
