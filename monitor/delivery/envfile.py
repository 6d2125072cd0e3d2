"""`check-config --env-file FILE [--credentials DIR]`: check the service's own environment, not the shell's.

The unit reads `monitor.env` (and `secrets.env`) with systemd's EnvironmentFile= syntax and its secrets from
credentials; a mistake there (the chat id missing, a typo in a variable's name) used to show only as a unit
that exits 2 at night. This reads the file as systemd does and runs the same checks as the service.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from monitor.config.feeds import Problem

KNOWN = {
    "MONITOR_STATE", "MONITOR_DIGEST_FILE", "MONITOR_PROXY",
    "MONITOR_SMTP_HOST", "MONITOR_SMTP_PORT", "MONITOR_SMTP_USER", "MONITOR_SMTP_PASSWORD",
    "MONITOR_SMTP_PASSWORD_FILE", "MONITOR_SMTP_SECURITY", "MONITOR_SMTP_CAFILE", "MONITOR_SMTP_TIMEOUT",
    "MONITOR_EMAIL_FROM", "MONITOR_EMAIL_TO",
    "MONITOR_TELEGRAM_TOKEN", "MONITOR_TELEGRAM_TOKEN_FILE", "MONITOR_TELEGRAM_CHAT_ID", "MONITOR_TELEGRAM_API",
    "MONITOR_WEB_TOKEN", "MONITOR_SIGNING_KEY", "MONITOR_CACHE_DIR",  # the web interface, evidence, morphology
    "MONITOR_DATABASE_URL", "MONITOR_ARCHIVE_DIR", "MONITOR_PG_LOCK_TIMEOUT_MS", "MONITOR_PG_IDLE_TIMEOUT_MS",
    "MONITOR_ARCHIVE_URL", "MONITOR_SPOOL_DIR",  # evidence in object storage (evidence/offsite.py)
}
SECRETS = ("MONITOR_SMTP_PASSWORD", "MONITOR_TELEGRAM_TOKEN", "MONITOR_WEB_TOKEN", "MONITOR_DATABASE_URL",
           "AWS_SECRET_ACCESS_KEY")
CREDENTIALS = {"smtp_password": "MONITOR_SMTP_PASSWORD", "telegram_token": "MONITOR_TELEGRAM_TOKEN"}
_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def read_env_file(path: Path) -> tuple[dict[str, str], list[Problem], list[Problem]]:
    """(variables, problems, warnings) of a systemd EnvironmentFile=, every line checked."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, [Problem(name, None, "file not found")], []
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [Problem(name, None, f"cannot read: {getattr(exc, 'strerror', None) or exc}")], []
    env: dict[str, str] = {}
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("export "):
            problems.append(Problem(name, number, "`export` is shell syntax; systemd wants plain NAME=value"))
            line = line[len("export "):].strip()
        m = _LINE.match(line)
        if not m:
            problems.append(Problem(name, number, "expected NAME=value"))
            continue
        key, value = m.group(1), m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key in env:
            warnings.append(Problem(name, number, f"{key} set again; the last one wins"))
        if key.startswith("MONITOR_") and key not in KNOWN:
            warnings.append(Problem(name, number, f"{key} is not a variable this monitor knows (a typo?)"))
        env[key] = value
    if any(env.get(s) for s in SECRETS) and _others_can_read(path):
        warnings.append(Problem(name, None, "holds a secret but others can read it: chmod 0600, owned by root"))
    return env, problems, warnings


def add_credentials(env: dict[str, str], directory: Path) -> list[Problem]:
    """Point the secrets at the credential files the unit would load (`smtp_password` or
    `pamir-monitor.smtp_password` in /etc/credstore), so they are checked like the service reads them."""
    warnings: list[Problem] = []
    if not directory.is_dir():
        return [Problem(str(directory), None, "no such directory")]
    for credential, var in CREDENTIALS.items():
        found = next((p for p in (directory / credential, directory / f"pamir-monitor.{credential}") if p.exists()), None)
        if found is None:
            continue
        if env.get(var) or env.get(f"{var}_FILE"):
            warnings.append(Problem(str(found), None, f"ignored by the service: {var} is set in the environment too"))
            continue
        env[f"{var}_FILE"] = str(found)
        if _others_can_read(found):
            warnings.append(Problem(str(found), None, "others can read this secret: chmod 0600, owned by root"))
    return warnings


def _others_can_read(path: Path) -> bool:
    try:
        return bool(os.stat(path).st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False
