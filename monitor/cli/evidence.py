"""Evidence commands: `keygen`, `verify`, and `export --format wacz` (the export command itself is core)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("monitor")

_STATE_FLAG = "\0verify-the-state"  # `monitor verify --state` with no value


def register(command) -> None:
    p = command("keygen", "create an ECDSA P-384 key for signing exports in the WACZ signing spec's form "
                          "(file mode 0600, and KEY.pub)")
    p.add_argument("--key", help="where to write it (default $MONITOR_SIGNING_KEY or ./monitor-signing.key)")
    p.set_defaults(handler=cmd_keygen)
    p = command("verify", "re-hash a WACZ export (or, with --state, the archive in the state) and name "
                          "every record that does not match")
    p.add_argument("file", nargs="?", type=Path, help="a .wacz written by `monitor export --format wacz`")
    p.add_argument("--public-key", type=Path, help="require the signature to be by this key (KEY.pub)")
    for action in p._actions:  # `--state` alone means: verify the state at its usual place
        if "--state" in action.option_strings:
            action.nargs, action.const = "?", _STATE_FLAG
    p.set_defaults(handler=cmd_verify)


def cmd_keygen(args: argparse.Namespace) -> int:
    from monitor.evidence.signing import SigningError, key_path, keygen

    path = key_path(args.key)
    try:
        fp = keygen(path)
    except SigningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"signing key written to {path} (mode 0600), public key to {path}.pub")
    print(f"fingerprint: {fp}")
    print("keep the key secret; publish the fingerprint so recipients can check your signature")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from monitor.evidence.verify import verify_state, verify_wacz

    if args.state == _STATE_FLAG:
        import os

        args.state = os.environ.get("MONITOR_STATE", "monitor.db")
    if args.file is not None:
        if not args.file.exists():
            print(f"error: {args.file}: no such file", file=sys.stderr)
            return 1
        expected = None
        if args.public_key:
            from monitor.evidence.signing import SigningError, load_public

            try:
                expected = load_public(args.public_key)
            except SigningError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
        result = verify_wacz(args.file, public_key=expected)
        target = str(args.file)
    else:
        from monitor.cli.common import state_exists, state_label

        if not state_exists(args):
            print(f"error: no state at {args.state}", file=sys.stderr)
            return 1
        from monitor.evidence.capture import Evidence
        from monitor.cli.common import open_state

        with open_state(args) as store:
            result = verify_state(store, Evidence(store))
        target = f"the archive of {state_label(args, absolute=False)}"
    for problem in result.problems:
        print(f"MISMATCH {problem}")
    checked = ", ".join(result.checked) or "nothing"
    if result.signature:
        print(f"signature: {result.signature}")
    if result.problems:
        print(f"{target}: {len(result.problems)} problem(s); checked {checked}")
        return 1
    print(f"{target}: OK; checked {checked}")
    return 0


def export_wacz_command(args: argparse.Namespace) -> int:
    from monitor.evidence.capture import Evidence
    from monitor.evidence.signing import SigningError, key_path, load_private
    from monitor.evidence.wacz import export_wacz
    from monitor.cli.common import open_state

    if not args.output:
        print("error: --format wacz writes a file: give -o FILE.wacz", file=sys.stderr)
        return 2
    key = stamp = None
    if args.sign:
        try:
            key = load_private(key_path(args.key))
        except SigningError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        stamp = _timestamper(args)
    with open_state(args) as store:
        report = export_wacz(store, Evidence(store), args.since, args.topic, args.output, signing_key=key,
                             timestamper=stamp)
    for line in report.skipped:
        log.warning("not in the export: %s", line)
    log.info("exported %d stor%s, %d capture(s), %d WARC record(s) to %s; package sha256 %s%s", report.stories,
             "y" if report.stories == 1 else "ies", report.captures, report.records, args.output, report.digest,
             f"; signed by {report.signed_by}" if report.signed_by else "")
    if report.signed_by and report.timestamps:
        log.info("trusted time: %d RFC 3161 token(s) over the signature", report.timestamps)
    return 0


def _timestamper(args: argparse.Namespace):
    """The RFC 3161 hook for `timestamp_authorities:` of feeds.yaml (none when the file is absent or has none)."""
    from monitor.config.feeds import load_feeds

    if not Path(args.feeds).exists():
        return None
    settings = load_feeds(args.feeds).settings  # a broken file is a ConfigError, reported like any other
    if not settings.timestamp_authorities:
        return None
    from monitor.evidence.timestamp import timestamper

    return timestamper(settings.timestamp_authorities, proxy=settings.proxy)
