"""What no report, log or metric of edgewasm-check carries: K3s tokens, values of keys that
name a secret, credentials in URLs, and the secrets the inventory knows.

The checks never put a secret in a message (each compares digests computed on the host
and names only the file and what is wrong: edgewasm/compliance/checks/test_k3s.py). This
is the net under them: a message, a log, a drift reason or a traceback is passed through
``text`` before it is stored or printed. The host's check process knows no raw secret
(``checker_data`` strips them from what it is handed), so it redacts by pattern; the
parent, which read the inventory, also redacts the secrets the inventory knows
(``known_secrets``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edgewasm import settings
from edgewasm.k3s import token_path

REDACTED = "<redacted>"

# K3s's token formats: K10<CA hash>::<user>:<password> (server: K10...::server:..., agent:
# K10...::node:...) and bootstrap tokens K10<CA hash>::<id>.<secret>.
K3S_TOKEN = re.compile(r"K10[0-9a-fA-F]*::[^\s'\"`,;)}\]]+")
# KEY=value, KEY: value, 'key': 'value' where the key names a secret (K3S_TOKEN=...,
# token: ..., etcd-s3-secret-key: ..., password=...); a key naming a file is a path, kept.
SECRET_VALUE = re.compile(
    r"(?i)(\b[\w.-]*?(?:token|passwd|password|passphrase|secret|credentials?)[\w-]*(?<![-_]file)['\"]?\s*[:=]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s'\",;)}\]]+)")
# scheme://user:password@host
URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'\"]+:)([^@\s/'\"]+)(@)")
# Shorter known values are not searched for: redacting "1" everywhere would say nothing.
MIN_KNOWN = 6
# The inventory's secret data (settings.SECRET) and pyinfra's own credentials.
SECRET_KEYS = frozenset({*settings.SECRET, "ssh_password", "ssh_key_password", "_sudo_password", "_su_password",
                         "_doas_password", "winrm_password"})


def text(value: str, known: Iterable[str] = ()) -> str:
    """``value`` with every known secret and everything that looks like one replaced."""
    for secret in sorted({k for k in known if len(k) >= MIN_KNOWN}, key=len, reverse=True):
        value = value.replace(secret, REDACTED)
    value = K3S_TOKEN.sub(f"K10{REDACTED}", value)
    value = SECRET_VALUE.sub(lambda m: m.group(1) + REDACTED, value)
    return URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + m.group(3), value)


def deep(value: Any, known: Iterable[str] = ()) -> Any:
    """Every string in ``value`` (dicts, lists, their keys kept) through ``text``."""
    known = frozenset(known)
    if isinstance(value, str):
        return text(value, known)
    if isinstance(value, Mapping):
        return {k: deep(v, known) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [deep(v, known) for v in value]
    return value


def _secret_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        # K10<hash>::server:<password>: the password is also the raw token edgewasm places.
        return [value.strip(), value.strip().rpartition(":")[2]] if "::" in value else [value.strip()]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _secret_strings(v)]
    return []


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def known_secrets(hosts) -> set[str]:
    """The raw secrets the inventory (``InventoryHost`` list) knows: its secret data, pyinfra
    credentials, and the operator's token and env files where this machine has them."""
    found: set[str] = set()
    for h in hosts:
        data = h.data
        for key in SECRET_KEYS:
            found.update(_secret_strings(data.get(key)))
        found.update(s for v in data.values() if isinstance(v, settings.Secret) for s in _secret_strings(str(v)))
        for kind in ("server", "agent"):
            try:
                found.update(_secret_strings(_read(token_path(data, kind))))
            except (TypeError, AttributeError):  # a malformed token setting: the inventory check names it
                pass
        env_file = data.get("k3s_env_file")
        if isinstance(env_file, str):
            try:
                found.update(_secret_strings(dict(settings.parse_env_file(_read(Path(env_file))))))
            except ValueError:
                pass
    return {s for s in found if len(s) >= MIN_KNOWN}


def checker_data(data: Mapping) -> dict:
    """A host's data as the check processes get it (their inventory file): no secret value,
    whatever holds it. The checks compare secrets by digests computed on the hosts and
    need none of these."""
    return {k: v for k, v in data.items() if k not in SECRET_KEYS and not isinstance(v, settings.Secret)}
