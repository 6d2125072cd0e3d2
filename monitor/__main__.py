"""`python -m monitor`. The guard matters: extraction workers re-import the parent's __main__ module."""

if __name__ in ("__main__", "__mp_main__"):  # the command's process, or a worker re-importing it: not a library
    from monitor.cli.entry import skip_unused_imports

    skip_unused_imports()

from monitor.cli.main import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
