"""What one fetch gives back, and how it failed: the HTTP exchanges as received (`Hop`, the material of a WARC
capture), the final `Response`, `FetchError` with one line a user understands, and the headers every request
sends."""

from __future__ import annotations

import email.utils
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from monitor import clock
from monitor.sources import netguard


# What every request says about us: a common desktop browser, nothing more. Our users include exiles whose relatives
# are pressured; a User-Agent naming the project or its purpose would tell state media's server logs (and anyone on
# the path of a Tor/SOCKS exit) who is reading about GBAO. `settings: user_agent` (or a feed's `user_agent:`) may
# name the monitor openly; the README says what that costs. robots.txt is then read under the `*` group (robots.py).
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"



# The headers a browser sends with such a User-Agent, so the request does not stand out by what it lacks.
# No Referer, ever: it would tell each site where the link was found (a feed, a search, another outlet).
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.5",
}



MAX_REDIRECTS = 10



MAX_RETRY_AFTER = 3600.0



WAIT_RETRY_AFTER = 60.0  # a Retry-After up to this long is waited out (and the request tried once more)



FAILS_BEFORE_BACKOFF = 5  # consecutive failures of one host before it is left alone for a while



MAX_BACKOFF_ROUND = 8  # 2, 4, 8 ... 256 minutes



PROXY_ENV = "MONITOR_PROXY"



ACCEPT_FEEDS = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, application/feed+json;q=0.9, "
                "*/*;q=0.5")



class FetchError(Exception):
    """A request that gave no usable response; `reason` is one line a user understands."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None,
                 host_down: bool = False, hops: tuple = ()):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.host_down = host_down  # the host is paused or backed off: nothing was sent
        self.hops = hops  # the exchanges of an HTTP error answer (a 404 is evidence of a removal)



class RobotsDisallowed(FetchError):
    """robots.txt forbids this URL to our User-Agent; nothing was sent."""



class _NetworkError(FetchError):
    """No HTTP answer at all (refused, reset, DNS, TLS): counts towards a host's back-off."""



@dataclass(frozen=True)
class Hop:
    """One HTTP exchange as it went over the wire: the material of a WARC capture (monitor/evidence).

    `body` is the payload as received, before Content-Encoding is undone (gzip stays gzip); chunked
    transfer coding is already removed by the HTTP layer (h11), which `evidence.warc` notes in the record.
    """

    url: str
    method: str
    target: str  # the request target sent (path and query)
    request_headers: tuple[tuple[str, str], ...]  # as sent, in order
    http_version: str  # "HTTP/1.1"
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # as received, in order, original case
    body: bytes
    peer: str  # "ip:port" the socket was connected to (the proxy's, behind a proxy); "" when unknown
    started: datetime  # UTC, when the request was sent
    tls_sha256: str = ""  # SHA-256 of the server's TLS certificate (DER, hex); "" over plain HTTP or unknown



@dataclass(frozen=True)
class Response:
    url: str  # final URL after redirects
    status: int
    headers: httpx.Headers
    content: bytes
    elapsed_ms: float
    hops: tuple[Hop, ...] = ()  # every exchange of this fetch, redirects and retries included, last one last

    @property
    def not_modified(self) -> bool:
        return self.status == 304



def peer_of(resp: httpx.Response) -> tuple[str, str]:
    """("ip:port", TLS certificate SHA-256) of the socket httpcore used. Read as soon as the headers are in:
    a server that closes after the response (HTTP/1.0) leaves no socket to ask once the body is read."""
    import hashlib

    peer = tls = ""
    stream = resp.extensions.get("network_stream")
    try:
        addr = stream.get_extra_info("server_addr") if stream is not None else None
        if addr:
            peer = f"[{addr[0]}]:{addr[1]}" if ":" in str(addr[0]) else f"{addr[0]}:{addr[1]}"
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        cert = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if cert:
            tls = hashlib.sha256(cert).hexdigest()
    except Exception:  # a transport without socket info (tests' mock transports): the address stays unknown
        pass
    return peer, tls


def _hop(resp: httpx.Response, url: str, body: bytes, started: datetime,
         peer: tuple[str, str] | None = None) -> Hop:
    """The exchange as sent and received; `peer` as `peer_of` read it when the headers came."""
    peer, tls = peer or peer_of(resp)
    reason = resp.extensions.get("reason_phrase", b"")
    request = resp.request
    return Hop(
        url=url, method=request.method, target=request.url.raw_path.decode("ascii", "replace"),
        request_headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw),
        http_version=resp.http_version or "HTTP/1.1", status=resp.status_code,
        reason=reason.decode("latin-1", "replace") if isinstance(reason, bytes) else str(reason or ""),
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw),
        body=body, peer=peer, started=started, tls_sha256=tls,
    )



def describe_error(exc: BaseException) -> str:
    """One line that says what went wrong at the network level, without a traceback."""
    blocked = netguard.is_blocked(exc)
    if blocked is not None:
        return str(blocked)
    text = " ".join(dict.fromkeys(str(e) for e in _chain(exc) if str(e)))  # httpx repeats its cause's text
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the server"
    if any(isinstance(e, ssl.SSLError) for e in _chain(exc)) or "SSL" in text or "certificate" in text:
        return f"TLS error: {text[:200]}"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text \
            or "Temporary failure in name resolution" in text or "No address associated" in text:
        return "DNS lookup failed (no such host, or no network)"
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"server broke the HTTP protocol: {text[:200]}"
    if isinstance(exc, httpx.DecodingError):
        return f"could not decode the response: {text[:200]}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL scheme: {text[:200]}"
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__



def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return seen



def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - clock.time())



def _clock(seconds_from_now: float) -> str:
    """HH:MM local time, `seconds_from_now` from now: what a user reads in a log or a digest footer."""
    return (clock.now().astimezone() + timedelta(seconds=seconds_from_now)).strftime("%H:%M")



def _phrase(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return ""
