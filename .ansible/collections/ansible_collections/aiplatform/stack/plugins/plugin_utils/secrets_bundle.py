# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The secrets of a backup, encrypted on the controller with the operator's backup key (Ansible Vault's format).

Why Vault's format: ansible-core brings it (and the `cryptography` library it uses) to every controller, nothing new
is installed on the hosts, and the operator can open a bundle by hand with `ansible-vault view secrets.enc` and the
backup key as the vault password. The clear secrets exist only in the controller's memory and in each host's 0600
store; the archive holds them AES-256 encrypted (PBKDF2-HMAC-SHA256 key derivation, HMAC-SHA256 integrity).
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
                f"it encrypts the secrets in every backup and is needed to restore them)")
    return None


def _vault(key: str) -> tuple[VaultLib, VaultSecret]:
    problem = key_problem(key)
    if problem:
        raise BundleError(problem)
    secret = VaultSecret(key.encode())
    return VaultLib([(VAULT_ID, secret)]), secret


def encrypt(bundle: dict, key: str) -> str:
    vault, secret = _vault(key)
    text = json.dumps(bundle, sort_keys=True)
    out = vault.encrypt(text, secret=secret, vault_id=VAULT_ID)
    return out.decode() if isinstance(out, bytes) else str(out)


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
