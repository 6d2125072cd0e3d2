"""`python -m monitor`. The guard matters: extraction workers re-import the parent's __main__ module."""

from monitor.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
