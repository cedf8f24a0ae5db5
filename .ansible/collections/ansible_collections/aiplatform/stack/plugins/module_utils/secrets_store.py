# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Per-install secrets: generated once, kept on the host in a 0600 JSON file, reused on every later run.

Encryption keys (LiteLLM salt, n8n, Flowise, Dify, Open WebUI) must never rotate: rotating them locks users out of
their stored data, so an existing value is always kept.
"""
from __future__ import annotations

import contextlib
import fcntl
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
    if kind == "password":
        return password(length)
    return "".join(secrets.choice(ALPHABET) for dummy in range(length))


def password(length: int = 24) -> str:
    """A login password every application's policy accepts: 8-64 characters (n8n's maximum) with a lower-case and an
    upper-case letter, a digit and one `-` (Flowise wants a character that is neither letter nor digit)."""
    length = max(8, min(64, length))
    chars = [secrets.choice(string.ascii_lowercase), secrets.choice(string.ascii_uppercase),
             secrets.choice(string.digits), "-"]
    chars += [secrets.choice(ALPHABET) for dummy in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def load(path: str) -> dict[str, str]:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


@contextlib.contextmanager
def locked(directory: str, check_mode: bool = False):
    """Hold the secrets directory's lock: two runs at once read, generate and write one after the other."""
    if check_mode:  # reads only, and check mode creates nothing (not even the lock file)
        yield
        return
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def ensure(path: str, wanted: dict[str, dict], check_mode: bool = False) -> tuple[dict[str, str], list[str]]:
    """Values for every wanted name {name: {kind, length}}: existing ones kept, missing ones generated.

    Returns (values, names generated now). Writes the file (0600, directory 0700) only when something was added.
    Read, generation and write happen under the directory's lock, so simultaneous first runs end with one set.
    """
    with locked(os.path.dirname(path), check_mode):
        return _ensure(path, wanted, check_mode)


def _ensure(path: str, wanted: dict[str, dict], check_mode: bool) -> tuple[dict[str, str], list[str]]:
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


def ensure_all(directory: str, services: dict[str, dict], check_mode: bool = False) -> tuple[dict, list[str]]:
    """ensure() for every service {service: {name: {kind, length}}}: ({service: values}, ["service.name" generated])."""
    values, generated = {}, []
    for service, wanted in sorted(services.items()):
        values[service], added = ensure(os.path.join(directory, f"{service}.json"), wanted or {}, check_mode)
        generated += [f"{service}.{name}" for name in added]
    return values, generated
