"""A small local HTTP server speaking the Bot API's sendMessage, with switches for failures.

It checks what the real API checks and the tests care about: the token in the path (401), a known
chat (400 chat not found), HTML markup limited to Telegram's tags and balanced (400 can't parse
entities), and the visible text at most 4096 UTF-16 units (400 message is too long). Scripted
failures (`fail(500)`, `fail(429, retry_after=3)`) are answered first, in order.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import deque
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "123456789:AAF-test_token_for_the_fake_bot_api"
ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote", "tg-spoiler", "span"}


class _Markup(HTMLParser):
    """Parses like Telegram: allowed tags only, properly nested; collects the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error = ""

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED:
            self.error = self.error or f"unsupported start tag \"{tag}\""
        elif tag == "a" and not dict(attrs).get("href"):
            self.error = self.error or "a tag without href"
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f"unmatched end tag \"{tag}\""
        else:
            self.stack.pop()

    def handle_data(self, data):
        if "<" in data or ">" in data:
            self.error = self.error or "unescaped '<' or '>'"
        self.text.append(data)

    def handle_entityref(self, name):
        if name not in ("lt", "gt", "amp", "quot"):
            self.error = self.error or f"unsupported entity &{name};"
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name):
        self.text.append(html.unescape(f"&#{name};"))


def visible_text(markup: str) -> tuple[str, str]:
    """(visible text, error) of an HTML-mode message."""
    parser = _Markup()
    parser.feed(markup)
    parser.close()
    error = parser.error or (f"unclosed tag \"{parser.stack[-1]}\"" if parser.stack else "")
    return "".join(parser.text), error


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram:
    """Usage: `with FakeTelegram() as tg: env = tg.env(); ...; tg.messages[0]["text"]`."""

    def __init__(self, token: str = TOKEN, chats: tuple[str, ...] | None = None, delay: float = 0.0):
        self.token, self.chats, self.delay = token, chats, delay
        self.messages: list[dict] = []  # accepted sendMessage payloads, with "at" (monotonic time)
        self.requests: list[dict] = []  # every request, accepted or not, with "status"
        self._script: deque[tuple[int, dict]] = deque()
        self._lock = threading.Lock()
        self._fail_after: tuple[int, int, str] | None = None
        self.arrived = threading.Event()  # set when a request comes in (before `delay`)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def fail(self, status: int, times: int = 1, retry_after: int | None = None, description: str | None = None,
             parameters: dict | None = None) -> None:
        """Answer the next `times` requests with this error instead of checking them."""
        body: dict = {"ok": False, "error_code": status,
                      "description": description or {429: "Too Many Requests: retry after %s" % retry_after,
                                                     500: "Internal Server Error", 502: "Bad Gateway",
                                                     400: "Bad Request: chat not found"}.get(status, "Error")}
        params = dict(parameters or {})
        if retry_after is not None:
            params["retry_after"] = retry_after
        if params:
            body["parameters"] = params
        with self._lock:
            self._script.extend([(status, body)] * times)

    def fail_after_accepted(self, accepted: int, status: int = 500,
                            description: str = "Internal Server Error") -> None:
        """Answer `status` once, to the first request after `accepted` messages were accepted."""
        with self._lock:
            self._fail_after = (accepted, status, description)

    def fail_html(self, status: int = 502, times: int = 1) -> None:
        """Answer the next `times` requests with an HTML error page (a proxy or load balancer in front of the API)."""
        with self._lock:
            self._script.extend([(status, {"__html__": f"<html><head><title>{status}</title></head><body><h1>"
                                                      f"{status} Bad Gateway</h1><hr>nginx</body></html>"})] * times)

    def _answer(self, path: str, payload: dict) -> tuple[int, dict]:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self._fail_after and len(self.messages) >= self._fail_after[0]:
                (_, status, description), self._fail_after = self._fail_after, None
                return status, {"ok": False, "error_code": status, "description": description}
        if path != f"/bot{self.token}/sendMessage":
            return 401 if path.endswith("/sendMessage") else 404, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        chat = str(payload.get("chat_id", ""))
        if self.chats is not None and chat not in self.chats:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        text = str(payload.get("text", ""))
        if payload.get("parse_mode") == "HTML":
            text, error = visible_text(text)
            if error:
                return 400, {"ok": False, "error_code": 400,
                             "description": f"Bad Request: can't parse entities: {error}"}
        if not text.strip():
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if utf16_len(text) > 4096:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        with self._lock:
            self.messages.append({**payload, "at": time.monotonic(), "visible": text})
            number = len(self.messages)
        return 200, {"ok": True, "result": {"message_id": number, "chat": {"id": chat}, "text": html.unescape(text)}}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    payload = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    payload = {}
                fake.arrived.set()
                if fake.delay:
                    time.sleep(fake.delay)
                status, body = fake._answer(self.path, payload)
                with fake._lock:
                    fake.requests.append({**payload, "status": status, "path": self.path})
                html_page = body.get("__html__") if isinstance(body, dict) else None
                data = html_page.encode() if html_page else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if html_page else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output clean (and tokens out of it)
                pass

        return Handler

    def start(self) -> "FakeTelegram":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeTelegram":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def env(self, chats: str = "-1001234567890") -> dict[str, str]:
        return {"MONITOR_TELEGRAM_TOKEN": self.token, "MONITOR_TELEGRAM_CHAT_ID": chats, "MONITOR_TELEGRAM_API": self.url}
