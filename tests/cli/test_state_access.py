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
