"""A child process as a user's terminal runs it: in the foreground, where Ctrl-C (SIGINT) reaches it.

A suite started in the background by a non-interactive shell (`bash .ci/run &`, a CI runner's script) inherits
SIGINT ignored, and a Python child then never raises KeyboardInterrupt: a test of what Ctrl-C does would see the
run finish instead. `preexec_fn=foreground` gives the child SIGINT's default action back, as a terminal would.
"""

from __future__ import annotations

import signal


def foreground() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
