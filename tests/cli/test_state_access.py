"""How commands open the state: one monitor per state file however the path is spelled, and a state on
write-protected media can still be read."""

from __future__ import annotations

import pytest

from monitor.cli.common import instance_lock


@pytest.mark.parametrize("spelling", ["symlinked file", "symlinked folder", "dot-dot path"])
def test_a_second_monitor_on_the_same_state_through_another_path_is_refused(tmp_path, spelling):
    real = tmp_path / "data" / "state.db"
    real.parent.mkdir()
    real.touch()
    if spelling == "symlinked file":
        other = tmp_path / "elsewhere" / "monitor.db"
        other.parent.mkdir()
        other.symlink_to(real)
    elif spelling == "symlinked folder":
        (tmp_path / "alias").symlink_to(real.parent)
        other = tmp_path / "alias" / "state.db"
    else:
        (tmp_path / "sub").mkdir()
        other = tmp_path / "sub" / ".." / "data" / "state.db"
    with instance_lock(str(real)):
        with pytest.raises(RuntimeError, match="another monitor is already running"):
            with instance_lock(str(other)):
                pass
    with instance_lock(str(other)):  # released: the next run takes it
        pass


def test_a_state_with_a_second_name_a_hard_link_is_refused_under_either_name(tmp_path):
    # each name would meet a lock file of its own, and SQLite a -wal of its own: both runs delivered
    real = tmp_path / "data" / "state.db"
    real.parent.mkdir()
    real.touch()
    other = tmp_path / "copy-for-the-cron-job" / "state.db"
    other.parent.mkdir()
    other.hardlink_to(real)
    for name in (real, other):
        with pytest.raises(RuntimeError, match="has 2 names \\(hard links\\).*keep one name \\(a symlink is fine\\)"):
            with instance_lock(str(name)):
                pass


def test_with_postgresql_one_monitor_per_database_and_folder_whatever_the_state_file_or_the_login(tmp_path):
    """With a database the lock belongs to the database (host, port, name): another --state file name, another
    role or password, another order of the URL's parameters still meet it; another database does not."""
    url = "postgresql://pamir:secret@db.example:5432/pamir?sslmode=require&connect_timeout=5"
    with instance_lock(str(tmp_path / "monitor.db"), url):
        for same in ("postgresql://reader:other@DB.example/pamir?connect_timeout=5&sslmode=require",
                     "postgres://db.example:5432/pamir"):
            with pytest.raises(RuntimeError, match="another monitor is already running with the database") as caught:
                with instance_lock(str(tmp_path / "other-name.db"), same):
                    pass
            assert "secret" not in str(caught.value) and ":other@" not in str(caught.value)
        with instance_lock(str(tmp_path / "monitor.db"), "postgresql://pamir:secret@db.example/archive2"):
            pass  # another database on the same server: another monitor's
        with instance_lock(str(tmp_path / "monitor.db")):
            pass  # the SQLite file of that name is not the database
