"""The `monitor` entry point, apart from the command line itself (main.py), so that it can refuse two unused
optional imports of our libraries before anything imports them."""



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
    """The entry point (`monitor`): the libraries' unused imports refused first, then the command line."""
    skip_unused_imports()
    from monitor.cli.main import main as _main

    return _main(argv)
