"""The operator machine's cache for edgewasm, one root for every kind of file kept there:
``$XDG_CACHE_HOME/edgewasm`` (``~/.cache/edgewasm``). Hosts cache elsewhere
(``edgewasm.artifacts.HOST_CACHE``)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgewasm"

DOWNLOADS = ROOT / "downloads"  # upstream artifacts fetched for a run without a bundle
BUILT = ROOT / "built"          # artifacts edgewasm builds itself (hello-wasm's OCI layout)
APT = ROOT / "apt"              # the bundle builder's private apt state
CHECK = ROOT / "check"          # what a management host gets: source archive, wheelhouse
