"""Provenance: what a package's recipient needs to know about how each page was collected (as Scoop's summary).

Each capture's metadata record carries the facts of its moment: the software and version, the SHA-256 of the
feeds.yaml and keywords.yaml in force (`note_config`, called whenever the command loads them, reloads too),
the egress kind (direct, proxy or Tor; never an address, neither the user's nor the proxy's), the server's IP
address and its TLS certificate's SHA-256. `report` gathers them into `provenance/provenance.json` of a WACZ with
each capture's hashes, and names the collector by the organisation's key fingerprint only (never a person).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

CONFIG: dict[str, str] = {}  # file name -> sha256 hex, of the files in force
PACKAGE_PATH = "provenance/provenance.json"


def note_config(*paths) -> None:
    """Remember the SHA-256 of the configuration files just loaded (missing files are left out)."""
    for path in paths:
        try:
            CONFIG[Path(path).name] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except (OSError, TypeError):
            continue


def egress(settings) -> str:
    """direct | proxy | tor: how requests leave the machine, without saying from or through which address."""
    proxy = getattr(settings, "proxy", None) or os.environ.get("MONITOR_PROXY", "")
    if not proxy:
        return "direct"
    u = urlsplit(proxy)
    if u.scheme.startswith("socks") and (u.port in (9050, 9150) or "tor" in (u.hostname or "")):
        return "tor"
    return "proxy"


def capture_facts(final, settings) -> dict:
    """The provenance fields of one capture's metadata record."""
    return {"egress": egress(settings), "config_sha256": dict(CONFIG),
            "server_ip": final.peer.rsplit(":", 1)[0].strip("[]") if final.peer else "",
            "tls_certificate_sha256": getattr(final, "tls_sha256", "")}


def report(software: str, created: str, collector: str, captures: list[dict], notes: dict[int, dict]) -> bytes:
    """provenance/provenance.json: the package's technical report. `notes`: capture id -> its metadata record."""
    rows = []
    for cap in captures:
        note = notes.get(cap["capture_id"], {})
        rows.append({
            "capture": cap["capture_id"], "url": cap["url"], "final_url": cap["final_url"],
            "captured_at": cap["captured_at"], "status": cap["status"], "monitor_version": cap["monitor_version"],
            "server_ip": note.get("server_ip") or (cap["peer"] or "").rsplit(":", 1)[0].strip("[]"),
            "tls_certificate_sha256": note.get("tls_certificate_sha256", ""),
            "egress": note.get("egress", "unknown (captured before provenance was recorded)"),
            "config_sha256": note.get("config_sha256", {}),
            "payload_sha256": cap["payload_sha256"],
            "requisites": len(note.get("requisites", [])),
            "screenshot_sha256": (note.get("screenshot") or {}).get("sha256", ""),
            "warc": {"filename": cap["filename"], "offset": cap["offset"], "length": cap["length"]},
        })
    doc = {
        "software": software, "created": created,
        "collector": collector or "not given (an unsigned export; sign it to name the collecting organisation's key)",
        "collector_note": "the SHA-256 fingerprint of the organisation's signing key, never a person's name",
        "config_sha256_at_export": dict(CONFIG),
        "method": "each page fetched once by the monitor as it polled its sources; the WARC records keep every "
                  "request and response as sent and received; screenshots are rendered offline from those records",
        "captures": rows,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
