"""The command line: `monitor COMMAND`, a thin layer that parses options and calls the library.

`main.py` builds the parser and maps errors to exit codes (0 ok, 1 runtime, 2 config, 3 every source failed
or a message stays queued). `common.py` holds what every command shares: the state opened and locked, the
config loaded, one-line errors, logging. Then one module per command group: `run.py` (run, check-config,
test-delivery, status, backfill, discover), `stories.py` (export, show), `review.py` (explain, eval, rematch,
label, labels), `evidence.py` (keygen, verify, export --format wacz), `web.py` (serve, report), `outbox.py`
(flush), `feeds.py` (feeds import/export).
`entry.py` is the `monitor` entry point: `skip_unused_imports()` runs first in the command's own process and
keeps two optional imports of its libraries, never used here, out of every start.

May import: every other part of monitor; nothing imports it.
"""
