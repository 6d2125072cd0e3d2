"""Library chatter belongs to -vv: after a keywords edit the Russian dictionary is loaded (the forms cache
misses), and pymorphy3's INFO lines must not reach a cron mail or the journal at the default level."""

from __future__ import annotations

from tests.conftest import PROJECT, run_cli


def test_pymorphy3_loading_its_dictionary_is_silent_unless_asked_for_with_vv(tmp_path):
    args = ("check-config", "--feeds", str(PROJECT / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"))
    quiet = run_cli(*args, env={"MONITOR_CACHE_DIR": str(tmp_path / "cold")})  # a cold cache: the dictionary loads
    assert quiet.returncode == 0, quiet.stderr
    assert "pymorphy3" not in quiet.stderr and "Loading dictionaries" not in quiet.stderr, quiet.stderr
    chatty = run_cli(*args, "-vv", env={"MONITOR_CACHE_DIR": str(tmp_path / "cold-again")})
    assert "pymorphy3" in chatty.stderr, "with -vv the libraries speak too"
