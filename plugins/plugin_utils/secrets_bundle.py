# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The backup key's rule, and the secrets of an archive directory of release 0.2 (`secrets.enc`), opened on the
controller with the operator's backup key (Ansible Vault's format; `ansible-vault view secrets.enc` opens one by hand
too). Backups no longer write them: a restic repository holds the secrets, encrypted by restic (module_utils/restic.py).
"""
from __future__ import annotations

import json

from ansible.errors import AnsibleError
from ansible.parsing.vault import VaultLib, VaultSecret

VAULT_ID = "aiplatform_backup"
MIN_KEY = 16


class BundleError(ValueError):
    """A bundle that cannot be made or opened; the message says why, never a value."""


def key_problem(key: object) -> str | None:
    if not isinstance(key, str) or len(key) < MIN_KEY:
        return (f"aiplatform_backup_key: must be a string of at least {MIN_KEY} characters (from a vault variable; "
                f"it is the restic repository's password, and every restore needs it)")
    return None


def _vault(key: str) -> tuple[VaultLib, VaultSecret]:
    problem = key_problem(key)
    if problem:
        raise BundleError(problem)
    secret = VaultSecret(key.encode())
    return VaultLib([(VAULT_ID, secret)]), secret


def decrypt(blob: str, key: str) -> dict:
    vault, dummy = _vault(key)
    try:
        plain = vault.decrypt(blob)
    except AnsibleError:
        raise BundleError("secrets.enc: cannot be decrypted with aiplatform_backup_key (another key, or the file "
                          "was changed)") from None
    data = json.loads(plain)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise BundleError("secrets.enc: not a bundle of service secrets")
    return data
