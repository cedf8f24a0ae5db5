"""Per-install secrets: generated once, kept on the host in a 0600 JSON file, reused on every later run.

Encryption keys (LiteLLM salt, n8n, Flowise, Dify, Open WebUI) must never rotate: rotating them locks users out of
their stored data, so an existing value is always kept.
"""
from __future__ import annotations

import json
import os
import secrets
import string
import tempfile

ALPHABET = string.ascii_letters + string.digits


def generate(kind: str = "token", length: int = 32) -> str:
    if kind == "hex":
        return secrets.token_hex(length // 2)
    if kind == "sk":  # LiteLLM keys must start with sk-
        return "sk-" + "".join(secrets.choice(ALPHABET) for dummy in range(length))
    return "".join(secrets.choice(ALPHABET) for dummy in range(length))


def load(path: str) -> dict[str, str]:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def ensure(path: str, wanted: dict[str, dict], check_mode: bool = False) -> tuple[dict[str, str], list[str]]:
    """Values for every wanted name {name: {kind, length}}: existing ones kept, missing ones generated.

    Returns (values, names generated now). Writes the file (0600, directory 0700) only when something was added.
    """
    values = load(path)
    added = []
    for name in sorted(wanted):
        if not values.get(name):
            spec = wanted[name] or {}
            values[name] = generate(spec.get("kind", "token"), int(spec.get("length", 32)))
            added.append(name)
    if added and not check_mode:
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps(values, indent=2, sort_keys=True).encode())
        finally:
            os.close(fd)
        os.replace(tmp, path)
    elif os.path.exists(path) and not check_mode and (os.stat(path).st_mode & 0o077):
        os.chmod(path, 0o600)
        added.append("(mode)")
    return values, added
