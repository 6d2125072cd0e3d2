"""The systemd units: hardening present, paths consistent with the CLI, and `systemd-analyze verify` clean."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"
SERVICE, ONCE, TIMER = "pamir-monitor.service", "pamir-monitor-once.service", "pamir-monitor.timer"
EXE = "/usr/local/bin/monitor"
STATE_DIR = "/var/lib/pamir-monitor"


def parse(name: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists: keys repeat in systemd, so no configparser."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{name}: keep directives on one line: {line}"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None and "=" in line, f"{name}: stray line {line!r}"
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def values(name: str, key: str, section: str = "Service") -> list[str]:
    return [v for k, v in parse(name).get(section, []) if k == key]


def one(name: str, key: str, section: str = "Service") -> str:
    found = values(name, key, section)
    assert len(found) == 1, f"{name}: expected exactly one {key}=, found {found}"
    return found[0]


HARDENING = {
    "DynamicUser": "yes",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "",
    "SystemCallArchitectures": "native",
    "StateDirectory": "pamir-monitor",
    "UMask": "0077",
}


@pytest.mark.parametrize("name", [SERVICE, ONCE])
def test_hardening_directives(name: str) -> None:
    for key, want in HARDENING.items():
        assert one(name, key) == want, f"{name}: {key}"
    assert "@system-service" in values(name, "SystemCallFilter")
    assert one(name, "MemoryMax")
    assert one(name, "KillSignal") == "SIGTERM"


@pytest.mark.parametrize("name", [SERVICE, ONCE])
def test_paths_and_secrets(name: str) -> None:
    argv = shlex.split(one(name, "ExecStart"))
    assert argv[0] == EXE and argv[1] == "run"
    state = argv[argv.index("--state") + 1]
    assert state.startswith(STATE_DIR + "/")  # inside StateDirectory=, the only writable place
    assert [e for e in values(name, "Environment") if e.startswith("MONITOR_STATE=")] == [f"MONITOR_STATE={state}"]
    assert argv[argv.index("--feeds") + 1].startswith("/etc/pamir-monitor/")
    # optional files must carry '-' or a fresh install without them would not start
    assert "-/etc/pamir-monitor/secrets.env" in values(name, "EnvironmentFile")
    creds = dict(v.split(":", 1) for v in values(name, "LoadCredential"))
    assert set(creds) == {"smtp_password", "telegram_token"}  # the names notify.read_secret looks for
    for source in creds.values():  # a relative (credstore) source is skipped when missing; absolute fails the start
        assert not source.startswith("/"), f"{name}: an absolute credential path makes the file mandatory"


def test_execstart_parses_with_the_cli() -> None:
    cli = pytest.importorskip("monitor.cli.main")
    for name in (SERVICE, ONCE):
        args = cli.build_parser().parse_args(shlex.split(one(name, "ExecStart"))[1:])
        assert args.command == "run" and args.once == (name == ONCE)


def test_service_restart_and_stop() -> None:
    assert one(SERVICE, "Type") == "simple"
    assert one(SERVICE, "Restart") == "on-failure"
    assert one(SERVICE, "ExecReload").endswith("-HUP $MAINPID")
    assert one(SERVICE, "WantedBy", "Install") == "multi-user.target"
    stop = float(one(SERVICE, "TimeoutStopSec").rstrip("s"))
    try:
        from monitor.scheduler import STOP_GRACE
    except ImportError:
        STOP_GRACE = 60.0
    assert stop > STOP_GRACE, "systemd must not SIGKILL before the app's own stop grace is over"


def test_timer() -> None:
    assert one(ONCE, "Type") == "oneshot"
    assert "Install" not in parse(ONCE), "the once-service is started by the timer, not enabled itself"
    assert one(TIMER, "Unit", "Timer") == ONCE
    assert one(TIMER, "Persistent", "Timer") == "true"
    assert one(TIMER, "OnCalendar", "Timer"), "Persistent= only has an effect with OnCalendar="
    assert one(TIMER, "WantedBy", "Install") == "timers.target"


# --- systemd-analyze, where it exists --------------------------------------------------------------

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (apt-get install systemd)")


@pytest.fixture
def runnable_units(tmp_path: Path) -> Path:
    """Copies of the units whose ExecStart points at an existing stand-in executable.

    verify rightly reports a missing ExecStart binary; /usr/local/bin/monitor exists only once installed.
    Only that path is replaced, so every other finding of verify still fails the test.
    """
    fake = tmp_path / "monitor"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    for path in UNITS.glob("pamir-monitor*"):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".service":
            assert text.count(EXE) == 1
            text = text.replace(EXE, str(fake))
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    return tmp_path


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60)


@needs_analyze
def test_systemd_analyze_verify(runnable_units: Path) -> None:
    units = [str(runnable_units / n) for n in (SERVICE, ONCE, TIMER)]
    result = _analyze("verify", *units)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, output


@needs_analyze
def test_systemd_analyze_security_score(runnable_units: Path) -> None:
    probe = _analyze("security", "--help")
    if "--offline" not in probe.stdout + probe.stderr:
        pytest.skip("systemd-analyze security --offline needs systemd 250 or later")
    for name in (SERVICE, ONCE):  # exposure is 0-10, printed; --threshold takes it times 10
        result = _analyze("security", "--offline=yes", "--threshold=20", "--no-pager", str(runnable_units / name))
        tail = (result.stdout + result.stderr).strip().splitlines()[-1:]
        assert result.returncode == 0, f"{name}: exposure above 2.0: {tail}"
