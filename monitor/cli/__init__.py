"""The command line: `monitor COMMAND`, a thin layer that parses options and calls the library.

`main.py` builds the parser and maps errors to exit codes (0 ok, 1 runtime, 2 config, 3 every source failed
or a message stays queued). `common.py` holds what every command shares: the state opened and locked, the
config loaded, one-line errors, logging. Then one module per command group: `run.py` (run, check-config,
test-delivery, status, backfill, discover), `stories.py` (export, show), `review.py` (explain, eval, rematch,
label, labels), `evidence.py` (keygen, verify, export --format wacz), `web.py` (serve, report), `outbox.py`
(flush), `feeds.py` (feeds import/export).
`skip_unused_imports()` (below) runs first in the command's own process: it keeps two optional imports of its
libraries, never used here, out of every start.

May import: every other part of monitor; nothing imports it.
"""


# Optional imports of libraries the monitor uses that it never needs: httpx imports its own command-line tool
# (click and rich, ~0.1 s) and httpcore imports trio's support when trio is installed (selenium brings it into a
# test venv; ~0.25 s), at every start, quiet cycle included. Refused in the command's own process only (a
# library user or a test process that imports monitor.cli keeps them): httpx then defines a stub `main`, and
# httpcore runs on asyncio as it always does here.
UNUSED_IMPORTS = ("httpx._main", "trio")


def skip_unused_imports() -> None:
    """Mark UNUSED_IMPORTS as absent, unless something in this process imported them already."""
    import sys

    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  (None: "import fails", by design)


def main(argv: list[str] | None = None) -> int:
    """The entry point (`monitor`); kept here too for installs whose script still names `monitor.cli:main`."""
    skip_unused_imports()
    from monitor.cli.main import main as _main

    return _main(argv)
