"""OpenSSH's formats that edgewasm writes or checks: one public key (a .pub file's line)
and the addresses of authorized_keys' ``from="..."`` option. Pure: settings validation
(edgewasm/settings.py) and the check user's authorized_keys line (edgewasm/check_access.py)
read them."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct

# OpenSSH public key types (ssh-keygen -t ...), as the first field of a .pub file.
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
             "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


def parse_public_key(text: str) -> tuple[str, str]:
    """(type, base64 blob) of an OpenSSH public key file's one key; ValueError saying why
    not (a private key, options before the key, a blob that is not of its type)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if any("PRIVATE KEY" in line for line in lines):
        raise ValueError("it is a PRIVATE key; give the .pub file")
    if len(lines) != 1:
        raise ValueError(f"it holds {len(lines)} keys, not one")
    fields = lines[0].split()
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        raise ValueError(f"it is not one OpenSSH public key ('TYPE BASE64 [COMMENT]', TYPE one of {', '.join(KEY_TYPES)})")
    kind, blob = fields[0], fields[1]
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        inner = raw[4:4 + length].decode()
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise ValueError("its key is not base64 of an SSH key") from None
    if inner != kind:
        raise ValueError(f"its key is a {inner[:40]!r} key, not {kind}")
    return kind, blob


_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def from_problem(entry: object) -> str | None:
    """Why ``entry`` cannot be one address of authorized_keys' ``from="..."`` (None: it
    can): an IP address, a network in CIDR notation (no host bits), or a host name.
    Nothing else reaches the line: no quote, comma, space, wildcard or negation."""
    if not isinstance(entry, str) or not entry:
        return f"{entry!r} is not a non-empty string"
    try:
        if "/" in entry:
            ipaddress.ip_network(entry, strict=True)
        else:
            ipaddress.ip_address(entry)
        return None
    except ValueError:
        pass
    if "/" not in entry and ":" not in entry and len(entry) <= 253 \
            and all(_HOST_LABEL.fullmatch(label) for label in entry.split(".")) \
            and not re.fullmatch(r"[0-9.]+", entry):
        return None
    return (f"{entry!r} is not an IP address, a CIDR network without host bits (10.0.0.0/24) or a host name "
            "(no quotes, commas, spaces, wildcards or '!')")
