"""A date no archive can mean (the year 9999 or 1, typed for "everything") is one usage line and exit 2 in
every command that takes --since or --until, never an OverflowError traceback; the widest dates allowed work."""

from __future__ import annotations

import pytest

from monitor.store import Store
from tests.conftest import PROJECT

CONFIG = ("--keywords", str(PROJECT / "keywords.yaml"), "--feeds", str(PROJECT / "feeds.yaml"))
RANGE = "expected a date from 1970-01-01 to 9000-12-31"


COMMANDS = [  # each with the option the first wrong date is given to
    ("report --since 9999-12-31", "--since"),
    ("report --since 0001-01-01", "--since"),
    ("rematch --since 2026-01-01 --until 9999-12-31 --dry-run", "--until"),
    ("rematch --since 0001-01-01 --dry-run", "--since"),
    ("backfill --since 2026-01-01 --until 9999-12-31 --dry-run", "--until"),
    ("backfill --since 9999-12-31 --until 9999-12-31 --dry-run", "--since"),
    ("export --since 0001-01-01", "--since"),
    ("export --incidents --since 9999-12-31", "--since"),
    ("incidents --since 9001-01-01", "--since"),
]


@pytest.mark.parametrize("command, option", COMMANDS, ids=[command for command, _ in COMMANDS])
def test_a_date_out_of_range_is_one_usage_line_and_exit_2(tmp_path, capsys, command, option):
    from monitor.cli.main import main

    args = command.split()
    date = args[args.index(option) + 1]

    state = tmp_path / "monitor.db"
    Store(state).close()  # a state to work on: the date alone is the mistake
    with pytest.raises(SystemExit) as stop:
        main([*args, "--state", str(state), *CONFIG])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("usage: monitor "), err
    assert err.strip().splitlines()[-1] == f"monitor {args[0]}: error: argument {option}: {RANGE}, got {date!r}"
    assert err.count("error") == 1


@pytest.mark.parametrize("since", ["1970-01-01", "9000-12-31"])
def test_the_weekly_report_of_the_first_and_last_week_allowed_is_printed(tmp_path, capsys, since):
    from monitor.cli.main import main

    state = tmp_path / "monitor.db"
    Store(state).close()
    assert main(["report", "--since", since, "--state", str(state), *CONFIG]) == 0
    out = capsys.readouterr().out
    assert "Weekly report" in out and f"{since} – " in out
