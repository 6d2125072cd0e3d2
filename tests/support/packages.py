"""WACZ packages as a forger would change them: files replaced, and the manifest recomputed if asked."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path


def rezip(src: Path, dst: Path, change, *, rehash: bool = False) -> None:
    """Copy a package with `change(files)` applied; `rehash`: recompute the manifest as a forger would."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        files = {n: zin.read(n) for n in zin.namelist()}
        change(files)
        if rehash:
            package = json.loads(files["datapackage.json"])
            for res in package["resources"]:
                res["hash"] = "sha256:" + hashlib.sha256(files[res["path"]]).hexdigest()
                res["bytes"] = len(files[res["path"]])
            files["datapackage.json"] = json.dumps(package).encode()
            digest = json.loads(files["datapackage-digest.json"])
            digest["hash"] = "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()
            files["datapackage-digest.json"] = json.dumps(digest).encode()
        for name, data in files.items():
            zout.writestr(name, data)
