"""The command line: `monitor COMMAND`, a thin layer that parses options and calls the library.

`main.py` builds the parser and maps errors to exit codes (0 ok, 1 runtime, 2 config, 3 every source failed
or a message stays queued). `common.py` holds what every command shares: the state opened and locked, the
config loaded, one-line errors, logging. Then one module per command group: `run.py` (run, check-config,
test-delivery, status, backfill, discover), `stories.py` (export, show), `review.py` (explain, eval, rematch,
label, labels), `evidence.py` (keygen, verify, export --format wacz), `web.py` (serve, report), `outbox.py`
(flush), `feeds.py` (feeds import/export).

May import: every other part of monitor; nothing imports it.
"""


def main(argv: list[str] | None = None) -> int:
    """The entry point (`monitor`); kept here too for installs whose script still names `monitor.cli:main`."""
    from monitor.cli.main import main as _main

    return _main(argv)
