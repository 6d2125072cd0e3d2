"""What makes the web interface safe to run beside a monitor: the rules for binding, the token, CSRF, headers.

Researchers' archives are sensitive: who searched for what, and which stories they marked, must not leak.
So the server binds to loopback unless a token is set; with a token every request needs it (a login form
sets an HttpOnly, SameSite=Strict cookie); a loopback server without a token accepts only loopback Host
names, which defeats DNS rebinding from a hostile page; every POST carries a CSRF token (double-submit
cookie) and must come from the same origin; every response has a strict Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

TOKEN_COOKIE = "monitor_auth"
CSRF_COOKIE = "monitor_csrf"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
MIN_TOKEN_LENGTH = 16

CSP = ("default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # a click to a news site must not tell it about this archive
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),  # pages of a sensitive archive stay out of shared caches
]


class UnsafeBinding(Exception):
    """The server would be reachable from other machines without a token."""


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse, with one clear line, a non-loopback address without a (long enough) MONITOR_WEB_TOKEN."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise UnsafeBinding(f"MONITOR_WEB_TOKEN is too short ({len(token)} characters); use at least "
                            f"{MIN_TOKEN_LENGTH}, e.g. the output of `python3 -c 'import secrets; "
                            "print(secrets.token_urlsafe(24))'`")
    if not is_loopback_host(host) and not token:
        raise UnsafeBinding(f"refusing to serve on {host}: other machines could read the archive; set "
                            "MONITOR_WEB_TOKEN to serve beyond 127.0.0.1 (or use --host 127.0.0.1)")


def token_digest(token: str) -> str:
    """What the auth cookie holds: a keyed hash, so the cookie jar never holds the token itself."""
    return hmac.new(token.encode(), b"monitor web session", hashlib.sha256).hexdigest()


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in headers:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is ignored, not an error page
                continue
    return {k: m.value for k, m in jar.items()}


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


def host_name(value: str) -> str:
    """The name part of a Host header: 'localhost:8750' → 'localhost', '[::1]:8750' → '[::1]'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value.split("]")[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def authorized(headers: list[tuple[bytes, bytes]], token: str | None) -> bool:
    if not token:
        return True
    auth = header(headers, b"authorization") or ""
    if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip().encode(), token.encode()):
        return True
    got = cookies(headers).get(TOKEN_COOKIE, "")
    return hmac.compare_digest(got.encode(), token_digest(token).encode())


def same_origin(headers: list[tuple[bytes, bytes]]) -> bool:
    """A POST must come from a page of this server: Sec-Fetch-Site, else Origin, else Referer, must agree."""
    site = header(headers, b"sec-fetch-site")
    if site is not None:  # set by the browser itself, no page can forge it
        return site in ("same-origin", "none")
    host = (header(headers, b"host") or "").lower()
    for name in (b"origin", b"referer"):
        value = header(headers, name)
        if value:
            return value != "null" and urlsplit(value).netloc.lower() == host
    return True  # no browser sends neither on a form POST; curl with the CSRF cookie and field may


def seal(request, line: str) -> str:
    """A keyed hash of the line a page shows after a POST ("Marked 3 stories"), keyed by the visitor's CSRF
    cookie: the redirect carries it, and the page shows the line only when it matches (`sealed`), so a link
    cannot make the page say what nobody did."""
    key = request.cookies.get(CSRF_COOKIE) or ""
    return hmac.new(key.encode(), line.encode(), hashlib.sha256).hexdigest()[:20] if key else ""


def sealed(request, line: str) -> bool:
    """Did this visitor's own POST seal this line (the `seal` query parameter)?"""
    given = request.query_params.get("seal", "")
    return bool(given) and hmac.compare_digest(seal(request, line).encode(), given.encode())


def csrf_ok(headers: list[tuple[bytes, bytes]], form_value: str | None) -> bool:
    expected = cookies(headers).get(CSRF_COOKIE)
    if not expected or not form_value or not same_origin(headers):
        return False
    return hmac.compare_digest(expected.encode(), form_value.encode())


class SecurityMiddleware:
    """ASGI: Host check, token check, security headers on every response."""

    def __init__(self, app, *, token: str | None, loopback_only_hosts: bool):
        self.app, self.token, self.loopback_only_hosts = app, token, loopback_only_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = scope.get("headers") or []
        host = host_name(header(headers, b"host") or "")
        if self.loopback_only_hosts and not is_loopback_host(host):
            return await _plain(send, 421, "This server answers only to localhost / 127.0.0.1.")
        path = scope.get("path", "")
        if self.token and path not in ("/login", "/static/style.css") and not authorized(headers, self.token):
            if scope.get("method") == "GET" and "text/html" in (header(headers, b"accept") or ""):
                return await _redirect(send, "/login")
            return await _plain(send, 401, "This monitor needs its token: open /login, or send "
                                           "'Authorization: Bearer <MONITOR_WEB_TOKEN>'.")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


async def _plain(send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), *HEADERS]})
    await send({"type": "http.response.body", "body": text.encode() + b"\n"})


async def _redirect(send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": b""})
