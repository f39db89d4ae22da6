"""Secrets on hosts: uploaded 0600 from the first byte, compared by salted digest."""

from __future__ import annotations

import hashlib
import secrets
from typing import IO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation

from facts.secrets import SaltedSha256File
from operations.fact_cache import fact_once
from operations.host_files import mode_kept, upload_name

# A random salt per run for digests of secrets (see facts/secrets.py).
SECRET_SALT = secrets.token_hex(16)


def salted_sha256(data: bytes) -> str:
    return hashlib.sha256(SECRET_SALT.encode() + data).hexdigest()


# $1 salt, $2 the uploaded file, $3 its destination; the expected salted digest arrives on
# stdin, so no secret-derived value is ever on a command line.
_SECRET_RENAME = ('read -r want; got=$( { printf %s "$1"; cat "$2"; } | sha256sum | cut -d" " -f1); '
                  'if [ "$got" = "$want" ]; then mv -f "$2" "$3"; '
                  'else rm -f "$2"; echo "$3: upload does not match what was sent" >&2; exit 1; fi')


@operation()
def secret_file(content: IO[bytes], dest: str, user: str | None = None, group: str | None = None):
    """
    Put a secret on the host with mode 0600 from the first byte, only when it differs.

    The secret travels over SFTP from memory: it is never on a command line, and pyinfra
    prints neither it, nor a diff of it, nor its plain digest: the host's copy is compared
    by a digest salted afresh every run, whose expected value reaches the host on stdin.

    **Example:**

    .. code:: python

        secret_files.secret_file(content=io.BytesIO(token), dest="/etc/rancher/k3s/agent-token")
    """
    data = content.read()
    content.seek(0)
    if fact_once(SaltedSha256File, path=dest, salt=SECRET_SALT) == salted_sha256(data):
        yield from mode_kept(dest, "600", "is current", user, group)  # no digest of a secret in the output
        return
    directory, partial = upload_name(dest)
    # Created 0600 before any byte of the secret is written into it.
    yield StringCommand("mkdir", "-p", QuoteString(directory), "&&", "(", "umask", "077", "&&",
                        "rm", "-f", QuoteString(partial), "&&", ":", ">", QuoteString(partial), ")")
    yield FileUploadCommand(content, partial, remote_temp_filename=partial)
    if user or group:
        yield StringCommand("chown", QuoteString(f"{user or ''}:{group or ''}"), QuoteString(partial))
    yield StringCommand("sh", "-c", QuoteString(_SECRET_RENAME), "secret", QuoteString(SECRET_SALT),
                        QuoteString(partial),
                        QuoteString(dest), _stdin=salted_sha256(data) + "\n")
