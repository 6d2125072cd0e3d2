"""The on-disk cache of term expansions, so a start-up with known terms loads no dictionary.

One JSON file per version of our rules and of the dictionaries (their package versions are in its name, so an
upgrade starts a new file), under `$MONITOR_CACHE_DIR`, else `$XDG_CACHE_HOME/pamir-monitor`, else
`~/.cache/pamir-monitor`. A cache that cannot be read or written (a read-only home under systemd) is simply
not used: expansion is then computed at every start, which is slower but gives the same forms.
`MONITOR_CACHE_DIR=off` turns it off.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RULES_VERSION = "3"  # bump when monitor.relevance.morph changes what it generates
_data: dict[str, Any] | None = None
_dirty = False


@lru_cache(maxsize=1)
def path() -> Path | None:
    where = os.environ.get("MONITOR_CACHE_DIR")
    if where and where.lower() in ("off", "none", "0"):
        return None
    if not where:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        where = os.path.join(base, "pamir-monitor")
    return Path(where) / f"forms-{RULES_VERSION}-{_versions()}.json"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("pymorphy3", "pymorphy3-dicts-ru", "lemminflect"):
        try:
            out.append(version(dist))
        except PackageNotFoundError:
            out.append("none")
    return "-".join(out)


def _load() -> dict[str, Any]:
    global _data
    if _data is None:
        _data = {}
        p = path()
        if p is not None and p.exists():
            try:
                _data = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.debug("expansion cache %s unreadable (%s): starting afresh", p, exc)
                _data = {}
    return _data


def get(key: str) -> Any:
    return _load().get(key)


def put(key: str, value: Any) -> None:
    global _dirty
    _load()[key] = value
    _dirty = True


def save() -> None:
    """Atomically replace the file with what is known now; silently skip when the place is not writable."""
    global _dirty
    p = path()
    if not _dirty or p is None:
        return
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".forms-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_load(), fh, ensure_ascii=False, separators=(",", ":"))
        os.replace(tmp, p)
        _dirty = False
        for old in p.parent.glob("forms-*.json"):  # files of older versions are never read again
            if old != p:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("expansion cache %s not written: %s", p, exc)


def reset() -> None:
    """Forget what is in memory (tests and benchmarks measuring a cold start)."""
    global _data, _dirty
    _data, _dirty = None, False
    path.cache_clear()
