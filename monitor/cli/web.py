"""`monitor serve` (the web interface) and `monitor report` (the weekly report)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

from monitor.cli.common import database_url, open_state, parse_date, parse_port, state_exists, state_label

log = logging.getLogger("monitor")


def register(command) -> None:
    p = command("serve", "a local web page over the archive: stories, search, triage, feeds, trends")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs "
                   "MONITOR_WEB_TOKEN)")
    p.add_argument("--port", type=parse_port, default=8750, help="port (default 8750; 0: any free port)")
    p.add_argument("--read-only", action="store_true", help="no triage buttons: browse and search only")
    p.set_defaults(handler=cmd_serve)
    p = command("report", "print the weekly report: counts per topic and source, top stories, new sources")
    p.add_argument("--week", action="store_true", help="the last seven days (the default period)")
    p.add_argument("--since", type=parse_date, help="YYYY-MM-DD: the seven days from this date")
    p.add_argument("--chart", type=_chart_file, help="also write the trend chart: FILE.png or FILE.svg")
    p.set_defaults(handler=cmd_report)


def _chart_file(text: str) -> Path:
    """--chart's file: a PNG or an SVG, as its name says; anything else would be a PNG under a wrong name."""
    if Path(text).suffix.lower() not in (".png", ".svg"):
        raise argparse.ArgumentTypeError(f"expected a file ending in .png or .svg, got {text!r}")
    return Path(text)


def _lenient_config(args: argparse.Namespace):
    """feeds.yaml and keywords.yaml as far as they load: a broken one turns features off, with a warning."""
    from monitor.config.feeds import ConfigError, load_feeds
    from monitor.relevance.keywords import load_rules

    feeds = rules = None
    rules_error = None
    try:
        feeds = load_feeds(args.feeds)
    except (ConfigError, OSError) as exc:
        print(f"warning: {args.feeds}: not used ({str(exc).splitlines()[0]}); the feeds page shows the state only",
              file=sys.stderr)
    try:
        rules = load_rules(args.keywords)
    except (ConfigError, OSError) as exc:
        rules_error = str(exc).splitlines()[0]
        print(f"warning: {args.keywords}: not used ({rules_error}); no aliases in search, no explanations",
              file=sys.stderr)
    return feeds, rules, rules_error


def cmd_serve(args: argparse.Namespace) -> int:
    from monitor.web.security import UnsafeBinding, check_binding, is_loopback_host

    token = os.environ.get("MONITOR_WEB_TOKEN") or None
    try:
        check_binding(args.host, token)
    except UnsafeBinding as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not state_exists(args):
        print(f"error: no state yet at {args.state}: run `monitor run --once` first", file=sys.stderr)
        return 1
    with open_state(args, read_only=args.read_only):
        pass  # a state that cannot be opened is one line now, not a traceback from the server's start-up
    feeds, rules, rules_error = _lenient_config(args)
    import uvicorn

    from monitor.web.app import WebConfig, create_app
    from monitor.web.search import load_aliases

    config = WebConfig(state=args.state, database_url=database_url(args), rules=rules, rules_error=rules_error,
                       aliases=load_aliases(args.keywords) if rules else [], feeds=feeds, token=token,
                       read_only=args.read_only, loopback_only_hosts=token is None and is_loopback_host(args.host))
    app = create_app(config)
    host = f"[{args.host}]" if ":" in args.host else args.host
    try:  # bound here, so a busy port is one clear line (uvicorn would log and exit 3)
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    print(f"serving the archive {state_label(args, absolute=False)} on http://{host}:{port}/"
          + (" (read-only)" if args.read_only else "") + (" (token required)" if token else "")
          + " — Ctrl-C stops it", file=sys.stderr)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=args.verbose > 0,
                                           server_header=False, lifespan="on"))
    server.run(sockets=[sock])
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from monitor.delivery.weekly import build_report, render_text, week_of

    if not state_exists(args):
        print(f"no state yet at {args.state}: run `monitor run --once` first")
        return 0
    _, rules, _ = _lenient_config(args) if Path(args.keywords).exists() else (None, None, None)
    since, until = week_of(args.since)
    with open_state(args, read_only=True) as store:
        report = build_report(store, since, until, [t.name for t in rules.topics] if rules else None, rules=rules)
    sys.stdout.write(render_text(report))
    if args.chart:
        from monitor.delivery.charts import png, svg

        svg_file = args.chart.suffix.lower() == ".svg"
        args.chart.write_bytes(svg(report.trend).encode() if svg_file else png(report.trend))
        log.info("trend chart written to %s", args.chart)
    return 0
