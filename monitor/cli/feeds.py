"""`monitor feeds import FILE.opml` and `monitor feeds export`: feed lists from and for feed readers.

Teams keep their lists in feed readers (Feedly, Inoreader, NetNewsWire, Thunderbird), which all speak OPML.
Import appends the new feeds after the last entry of `feeds:` in feeds.yaml, as text, so every comment and
the order of the file stay as they were; feeds already listed (same URL, www/https/tracking ignored) are
skipped, names made unique. The new file is validated before it replaces the old one (atomically).
OPML comes from elsewhere: it is parsed with defusedxml (no entities, no external access).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

MAX_OPML_BYTES = 5_000_000


def register(command) -> None:
    from monitor.cli.common import add_common_options

    p = command("feeds", "import feeds from an OPML file (feed readers' export), or export feeds.yaml as OPML")
    sub = p.add_subparsers(dest="feeds_action", required=True, metavar="ACTION")
    imp = sub.add_parser("import", help="add the feeds of an OPML file to feeds.yaml (comments are kept)")
    add_common_options(imp, suppress=True)
    imp.add_argument("opml", type=Path, help="the OPML file")
    imp.add_argument("--dry-run", action="store_true", help="print what would be added; change nothing")
    imp.add_argument("--interval", default=None, help="interval: for the new feeds (default: the file's default)")
    imp.set_defaults(handler=cmd_import)
    exp = sub.add_parser("export", help="write the feeds of feeds.yaml as OPML")
    add_common_options(exp, suppress=True)
    exp.add_argument("--output", "-o", type=Path, help="file to write (default stdout)")
    exp.set_defaults(handler=cmd_export)


def read_opml(path: Path) -> list[tuple[str, str, str | None]]:
    """(title, xmlUrl, category) of every feed outline, in document order; raises ValueError in one line."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring
    from xml.etree.ElementTree import ParseError

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_OPML_BYTES:
        raise ValueError(f"{path}: larger than {MAX_OPML_BYTES:,} bytes; is it really an OPML file?")
    try:
        root = fromstring(data, forbid_dtd=False)
    except DefusedXmlException as exc:
        raise ValueError(f"{path}: refused unsafe XML ({type(exc).__name__})") from None
    except ParseError as exc:
        raise ValueError(f"{path}: not well-formed XML: {exc}") from None
    if root.tag.lower() != "opml":
        raise ValueError(f"{path}: not an OPML file (the root element is <{root.tag}>)")
    found: list[tuple[str, str, str | None]] = []

    def walk(node, category: str | None) -> None:
        for outline in node.findall("outline"):
            url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
            title = (outline.get("title") or outline.get("text") or "").strip()
            if url:
                found.append((title, url, category))
            walk(outline, title or category if not url else category)

    body = root.find("body")
    walk(body if body is not None else root, None)
    return found


def _feeds_block(path: Path) -> tuple[list[str], int | None, int, list]:
    """The file's lines, the line after which new entries go, the dash's column, and the feeds as parsed."""
    import yaml

    from monitor.config.feeds import _Loader, load_feeds

    feeds = load_feeds(path).feeds  # raises ConfigError: never append to a file that is already broken
    text = path.read_text(encoding="utf-8")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    seq = next(v for k, v in node.value if k.value == "feeds")
    assert isinstance(seq, yaml.SequenceNode) and seq.value
    last = seq.value[-1]
    end = last.end_mark.line + (1 if last.end_mark.column else 0)  # the line after the last item's last value
    return text.splitlines(keepends=True), end, max(0, seq.value[0].start_mark.column - 2), feeds


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def cmd_import(args: argparse.Namespace) -> int:
    from monitor.config.feeds import ConfigError, load_feeds, parse_duration
    from monitor.stories.urlkeys import url_key

    try:
        outlines = read_opml(args.opml)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.interval:
        try:
            parse_duration(args.interval)
        except ValueError as exc:
            print(f"error: --interval: {exc}", file=sys.stderr)
            return 2
    path = Path(args.feeds)
    if path.exists():
        lines, end, col, existing = _feeds_block(path)
    else:
        lines, end, col, existing = ["feeds:\n"], 1, 2, []
    names = {f.name for f in existing}
    keys = {url_key(f.url) for f in existing}
    added, skipped, bad = [], 0, []
    for title, url, category in outlines:
        if not url.lower().startswith(("http://", "https://")):
            bad.append(url)
            continue
        if url_key(url) in keys:
            skipped += 1
            continue
        name = " ".join(title.split()) or url.split("//", 1)[1].split("/", 1)[0]
        base, n = name, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.add(name)
        keys.add(url_key(url))
        added.append((name, url, category))
    pad = " " * col
    block = [f"{pad}# --- imported from {args.opml.name} ---\n"] if added else []
    for name, url, category in added:
        block.append(f"{pad}- name: {_yaml_str(name)}\n")
        block.append(f"{pad}  url: {_yaml_str(url)}\n")
        if args.interval:
            block.append(f"{pad}  interval: {args.interval}\n")
        if category:
            block[-1] = block[-1].rstrip("\n") + f"  # {' '.join(category.split())}\n"
    for url in bad:
        print(f"skipped (not an http(s) feed URL): {url}", file=sys.stderr)
    summary = f"{len(added)} feed(s) to add, {skipped} already listed" + (f", {len(bad)} invalid" if bad else "")
    if args.dry_run or not added:
        print("".join(block), end="")
        print(f"{summary}; {'dry run: ' if args.dry_run else ''}{path} unchanged")
        return 0
    if lines and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    new_text = "".join(lines[:end] + block + lines[end:])
    fd, tmp = tempfile.mkstemp(dir=str(path.parent.resolve()), prefix=".feeds-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_text)
        try:
            load_feeds(tmp)
        except ConfigError as exc:  # our own output must validate; never leave a broken feeds.yaml behind
            print(f"error: the imported file would not validate, {path} unchanged:\n{exc}", file=sys.stderr)
            return 1
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"{summary}; written to {path} (check it with `monitor check-config`)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from xml.etree.ElementTree import Element, SubElement, indent, tostring

    from monitor.config.feeds import load_feeds

    feeds = load_feeds(args.feeds)
    opml = Element("opml", version="2.0")
    SubElement(SubElement(opml, "head"), "title").text = "Pamir news monitor feeds"
    body = SubElement(opml, "body")
    skipped = 0
    for f in feeds.feeds:
        if f.kind != "feed":  # listing pages and sitemaps mean nothing to a feed reader
            skipped += 1
            continue
        attrs = {"type": "rss", "text": f.name, "title": f.name, "xmlUrl": f.url}
        if f.language:
            attrs["language"] = f.language
        SubElement(body, "outline", attrs)
    indent(opml)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(opml, encoding="unicode") + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if skipped:
        print(f"{skipped} source(s) of kind site/sitemap left out: they are not feeds", file=sys.stderr)
    return 0
