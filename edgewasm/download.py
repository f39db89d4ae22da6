"""HTTP downloads that survive flaky edge uplinks: retries, resume, progress, clear errors."""

from __future__ import annotations

import errno
import sys
import time
from pathlib import Path

import requests
from tqdm import tqdm

from edgewasm.manifest import sha256_of

CHUNK = 1 << 16


class DownloadError(RuntimeError):
    pass


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "edgewasm-bundle"
    return session


def http_get(url: str, headers: dict[str, str] | None = None, retries: int = 4, timeout: float = 30
             ) -> requests.Response:
    """One GET, retried on connection errors only; any HTTP answer is returned (a
    registry's 401 is the start of its token flow, not a failure)."""
    last = None
    for attempt in range(retries):
        try:
            return _session().get(url, headers=headers or {}, timeout=timeout)
        except requests.RequestException as exc:
            last = exc
            time.sleep(min(2**attempt, 10) * 0.25)
    raise DownloadError(f"cannot fetch {url} after {retries} tries: {last}")


def fetch_text(url: str, retries: int = 4, timeout: float = 30, headers: dict[str, str] | None = None) -> str:
    """A small file (checksum list, Helm index, API answer) in memory. Errors name the
    URL, never the headers (they may carry a token)."""
    response = http_get(url, headers, retries, timeout)
    if response.status_code >= 400:
        raise DownloadError(f"HTTP {response.status_code} for {url}")
    return response.text


def fetch_file(url: str, dest: Path, retries: int = 4, timeout: float = 30, progress: bool = True) -> int:
    """Download ``url`` to ``dest``, resuming ``dest.part`` from an earlier attempt.

    Returns the bytes transferred by this call. 4xx/5xx answers fail at once (a 404 will
    not heal); connection drops and short bodies are retried from where they stopped.
    """
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    transferred = 0
    last_error = "no attempt"
    for attempt in range(retries):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with _session().get(url, headers=headers, stream=True, timeout=timeout) as response:
                if response.status_code == 416 and have:  # the part is already whole
                    part.rename(dest)
                    return transferred
                if response.status_code >= 400:
                    raise DownloadError(f"HTTP {response.status_code} for {url}")
                if have and response.status_code != 206:
                    have = 0  # the server ignored the range: start over
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                mode = "ab" if have else "wb"
                with open(part, mode) as out, tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, desc=dest.name,
                    disable=not progress, file=sys.stderr, leave=False,
                ) as bar:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                        transferred += len(chunk)
                        bar.update(len(chunk))
            got = part.stat().st_size
            if total is not None and got < total:
                last_error = f"truncated: got {got} of {total} bytes"
                continue
            part.rename(dest)
            return transferred
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                part.unlink(missing_ok=True)
                raise DownloadError(f"disk full while writing {part}: free space and run again") from None
            if not isinstance(exc, requests.RequestException):
                raise
            last_error = str(exc)
        time.sleep(min(2**attempt, 10) * 0.25)
    raise DownloadError(f"cannot download {url} after {retries} tries ({last_error}); "
                        f"the partial file {part} is kept and the next run resumes it")


def fetch_verified(url: str, path: Path, sha256: str, progress: bool = True, log=None) -> int:
    """Make ``path`` a copy of ``url`` with ``sha256``, downloading only when the file
    there does not already have it; a download with another hash is discarded. Returns
    the bytes downloaded."""
    if path.exists() and sha256_of(path) == sha256:
        return 0
    path.unlink(missing_ok=True)
    if log:
        print(f"bundle: fetching {path.name}", file=log)
    downloaded = fetch_file(url, path, progress=progress)
    actual = sha256_of(path)
    if actual != sha256:
        path.unlink()
        raise DownloadError(f"checksum mismatch for {path.name} from {url}: "
                            f"expected {sha256}, got {actual}; the file was discarded")
    return downloaded
