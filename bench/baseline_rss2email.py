"""Baseline: rss2email (r2e) on the same feeds, mailing every entry to a local SMTP sink.

rss2email lives in its own venv so it never touches the project's (default /work/bench-venv; the harness skips
this baseline when it is missing):

    python3 -m venv /work/bench-venv && /work/bench-venv/bin/pip install rss2email==3.14

The harness uses three pieces of this file:
  * `write_config(workdir, feeds, smtp_port)` writes an r2e config with one `[feed.NAME]` section per feed
    (written directly: 1,000 `r2e add` calls would take minutes) and returns the r2e command line;
  * `python bench/baseline_rss2email.py sink --ready-file F --stats-file S` runs a tiny SMTP sink on 127.0.0.1
    that accepts every message and counts them (written here so the baseline needs no aiosmtpd);
  * the r2e run itself is measured by the harness like any other child process.

Note what r2e does and does not do: it polls each feed one after another (ETag / Last-Modified via feedparser),
renders each new entry's feed content to one e-mail and sends it over a new SMTP connection. It never fetches the
article page and never matches keywords, so it does less work per item than the monitor does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

DEFAULT_VENV = os.environ.get("BENCH_VENV", "/work/bench-venv")


def r2e_path(venv: str = DEFAULT_VENV) -> str | None:
    path = Path(venv) / "bin" / "r2e"
    return str(path) if path.exists() else None


def write_config(workdir: str | Path, feeds: list[dict], smtp_port: int, venv: str = DEFAULT_VENV) -> list[str]:
    """Write rss2email.cfg (+ an empty data file location) under workdir; return the `r2e run` command."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "rss2email.cfg"
    data = workdir / "rss2email.json"
    lines = [
        "[DEFAULT]",
        "from = bench@localhost",
        "to = reader@localhost",
        "email-protocol = smtp",
        f"smtp-server = 127.0.0.1:{smtp_port}",
        "smtp-auth = False",
        "smtp-ssl = False",
        "same-server-fetch-interval = 0",
        "feed-timeout = 20",
        "verbose = warning",
        "",
    ]
    for feed in feeds:
        name = "".join(ch if ch.isalnum() or ch in ".-_" else "-" for ch in feed["name"])
        lines += [f"[feed.{name}]", f"url = {feed['url']}", ""]
    cfg.write_text("\n".join(lines), encoding="utf-8")
    r2e = r2e_path(venv)
    if r2e is None:
        raise FileNotFoundError(f"rss2email is not installed in {venv}")
    return [r2e, "-c", str(cfg), "-d", str(data), "run"]


# --- the SMTP sink ------------------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1

        def say(line: str) -> None:
            writer.write((line + "\r\n").encode())

        say("220 bench-sink ESMTP")
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    return
                cmd = raw.decode("latin-1").strip().upper()
                if cmd.startswith(("EHLO", "HELO")):
                    writer.write(b"250-bench-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n" if cmd.startswith("EHLO")
                                 else b"250 bench-sink\r\n")
                elif cmd.startswith("DATA"):
                    say("354 end with <CRLF>.<CRLF>")
                    await writer.drain()
                    size = 0
                    while True:
                        line = await reader.readline()
                        if not line or line in (b".\r\n", b".\n"):
                            break
                        size += len(line)
                    self.messages += 1
                    self.bytes += size
                    say("250 OK queued")
                elif cmd.startswith("QUIT"):
                    say("221 bye")
                    await writer.drain()
                    return
                else:  # MAIL, RCPT, RSET, NOOP, anything else
                    say("250 OK")
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()


async def _serve(ready_file: str, stats_file: str) -> None:
    sink = Sink()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    Path(ready_file).write_text(json.dumps({"port": port, "pid": os.getpid()}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        Path(stats_file).write_text(json.dumps({"messages": sink.messages, "bytes": sink.bytes,
                                                "connections": sink.connections}))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    server.close()
    Path(stats_file).write_text(json.dumps({"messages": sink.messages, "bytes": sink.bytes,
                                            "connections": sink.connections}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sink", help="run the SMTP sink until SIGTERM")
    s.add_argument("--ready-file", required=True)
    s.add_argument("--stats-file", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "sink":
        asyncio.run(_serve(args.ready_file, args.stats_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
